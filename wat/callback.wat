;; The wasmtime-rb PR's callback spec: spin, then call the host's `add` with 41; the host
;; re-enters the interpreter (re-taking the lock) and returns 42, which the export returns.
(module
  (import "host" "add" (func $add (param i32) (result i32)))
  (func $spin (param $n i64)
    (local $i i64)
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next))))
  (func (export "run") (param $n i64) (result i32)
    (call $spin (local.get $n))
    (call $add (i32.const 41))))
