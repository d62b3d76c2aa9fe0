;; A memory.grow loop, the workload of the shared-Store race: every grow goes through the
;; runtime's libcall path and changes Store-owned state. grow(n) tries n one-page grows
;; (a failed grow past the maximum returns -1 and the loop goes on) and returns the size.
(module
  (memory (export "memory") 1 16384)
  (func (export "grow") (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (drop (memory.grow (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (memory.size)))
