;; spin between two host `mark` calls: the host records a sibling thread's counter at the
;; start (mark 0) and the end (mark 1) of the Wasm work, as the wasmtime-rb PR's spec does.
(module
  (import "host" "mark" (func $mark (param i32)))
  (func $spin (param $n i64) (result i64)
    (local $i i64) (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $acc
          (i64.add (local.get $acc) (i64.xor (local.get $i) (i64.const 0x9e3779b9))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (local.get $acc))
  (func (export "run") (param $n i64) (result i64)
    (local $r i64)
    (call $mark (i32.const 0))
    (local.set $r (call $spin (local.get $n)))
    (call $mark (i32.const 1))
    (local.get $r)))
