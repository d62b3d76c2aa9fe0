;; A WASI command written for gvlbench's own tests: some compute, its result printed to
;; stdout with fd_write, then proc_exit(0). It needs nothing from outside the project.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; 0: iovec (ptr, len); 8: bytes written; 16: the label; 64..97: decimal digits and "\n"
  (data (i32.const 16) "wasi_spin: ")
  (func $spin (param $n i64) (result i64) (local $i i64) (local $acc i64)
    (loop $l
      (local.set $acc (i64.add (local.get $acc)
        (i64.xor (local.get $i) (i64.shr_u (local.get $acc) (i64.const 3)))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $l (i64.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))
  ;; the decimal digits of $v, then "\n" at 96; returns where they start
  (func $itoa (param $v i64) (result i32) (local $p i32)
    (i32.store8 (i32.const 96) (i32.const 10))
    (local.set $p (i32.const 96))
    (loop $d
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $d (i64.ne (local.get $v) (i64.const 0))))
    (local.get $p))
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (local $p i32)
    (call $write (i32.const 16) (i32.const 11))
    (local.set $p (call $itoa (call $spin (i64.const 30000000))))
    (call $write (local.get $p) (i32.sub (i32.const 97) (local.get $p)))
    (call $proc_exit (i32.const 0))))
