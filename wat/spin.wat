;; A pure i64 loop: Wasm compute with no host calls and no memory traffic.
;; spin(n) runs n iterations and returns a checksum so the loop cannot be optimised away.
(module
  (func $spin (export "spin") (param $n i64) (result i64)
    (local $i i64) (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $acc
          (i64.add (local.get $acc) (i64.xor (local.get $i) (i64.const 0x9e3779b9))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (local.get $acc)))
