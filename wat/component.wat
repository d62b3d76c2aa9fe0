;; A component (the component model's text format), the world of component.wit:
;;   export spin: func(n: u64) -> u64          an n-iteration loop, the sum of 0..n-1
;;   export add: func(a: u32, b: u32) -> u32   the cheap export
;;   export echo: func(s: string, n: u64) -> string
;; echo stores s's (pointer, length) in ONE fixed return area (offset 16), spins n times,
;; then returns that area: two calls that overlap on one instance hand each other's string
;; back, so a shared Store shows up as a wrong result, not only as a crash. Strings come in
;; through `realloc` (a bump allocator that wraps), and echo has a post-return function, as
;; a component built by a bindings generator does. Compiled by wasmtime.wat2wasm (wabt's
;; wat2wasm reads core modules only); gvlbench/wat.py routes `(component` text there.
(component
  (core module $m
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "realloc") (param $old i32) (param $osize i32) (param $align i32)
                             (param $nsize i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get $align))))
      (if (i32.gt_u (i32.add (local.get $p) (local.get $nsize)) (i32.const 65536))
        (then (local.set $p (i32.const 4096))
              (if (i32.gt_u (local.get $nsize) (i32.const 61440)) (then unreachable))))
      (global.set $bump (i32.add (local.get $p) (local.get $nsize)))
      (local.get $p))
    (func $spin (export "spin") (param $n i64) (result i64)
      (local $i i64) (local $acc i64)
      (block $done
        (loop $next
          (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
          (local.set $acc (i64.add (local.get $acc) (local.get $i)))
          (local.set $i (i64.add (local.get $i) (i64.const 1)))
          (br $next)))
      (local.get $acc))
    (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
    (func (export "echo") (param $ptr i32) (param $len i32) (param $n i64) (result i32)
      (i32.store (i32.const 16) (local.get $ptr))
      (i32.store (i32.const 20) (local.get $len))
      (drop (call $spin (local.get $n)))
      (i32.const 16))
    (func (export "echo-post") (param i32))
  )
  (core instance $i (instantiate $m))
  (func (export "spin") (param "n" u64) (result u64) (canon lift (core func $i "spin")))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $i "add")))
  (func (export "echo") (param "s" string) (param "n" u64) (result string)
    (canon lift (core func $i "echo") (memory (core memory $i "mem"))
                (realloc (core func $i "realloc")) (post-return (core func $i "echo-post"))))
)
