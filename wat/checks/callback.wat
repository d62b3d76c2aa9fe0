(module
  (import "host" "add" (func $add (param i32) (result i32)))
  (func (export "run") (param $n i64) (result i32)
    (local $i i64)
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (call $add (i32.const 41))))
