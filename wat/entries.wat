;; The Store entry points other than the call, in one module: a memory (with a known pattern
;; in its first 64 bytes), a mutable global and a funcref table, each exported. `race
;; --guard-cost` prices each entry point on it, and the entry-point races
;; (`race --entry NAME`) race each one against Wasm that the exports below run:
;;   grow()     one memory.grow of one page: the old size, or -1 at the 64-page maximum
;;   burn(n)    n loop iterations, to burn fuel; returns n
;;   watch(n)   reads the global, then n iterations re-reading it: 1 if it ever changed
;;   work(n)    the sum 0 + 1 + ... + n-1 (a call whose result is known)
;;   nop()      nothing (the table's elements)
(module
  (memory (export "memory") 1 64)
  (data (i32.const 0) "gvlbench: the 64 bytes a reader of this memory must always see. ")
  (global $g (export "global") (mut i64) (i64.const 0))
  (table (export "table") 2 funcref)
  (elem (i32.const 0) $nop $nop)
  (func $nop (export "nop"))
  (func (export "grow") (result i32)
    (memory.grow (i32.const 1)))
  (func (export "burn") (param $n i64) (result i64)
    (local $i i64)
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (local.get $i))
  ;; $g is read through a call each time round: with no call in the loop, Cranelift would
  ;; forward the first read of the global to every later one (a store to another global
  ;; does not stop it: measured)
  (func $read_g (result i64) (global.get $g))
  (func (export "watch") (param $n i64) (result i32)
    (local $i i64) (local $first i64) (local $changed i32)
    (local.set $first (global.get $g))
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (if (i64.ne (call $read_g) (local.get $first))
          (then (local.set $changed (i32.const 1))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (local.get $changed))
  (func (export "work") (param $n i64) (result i64)
    (local $i i64) (local $sum i64)
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $sum (i64.add (local.get $sum) (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (local.get $sum)))
