;; Wasm work around a host callback that raises: spin, then call the host's `raise`, whose
;; exception must come back to this thread's caller (the design card's GC-stress scenario).
(module
  (import "host" "raise" (func $raise (param i32) (result i32)))
  (func $spin (param $n i64)
    (local $i i64)
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next))))
  (func (export "run") (param $n i64) (result i32)
    (call $spin (local.get $n))
    (call $raise (i32.const 7))))
