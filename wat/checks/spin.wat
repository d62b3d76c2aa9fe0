(module (func (export "spin") (param $n i64)
  (local $i i64)
  (block $done (loop $next
    (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
    (local.set $i (i64.add (local.get $i) (i64.const 1)))
    (br $next)))))
