;; An Extism plugin in plain WAT (scenarios extism_spin, extism_echo, extism_noop,
;; extism_refuse).
;;
;; A plugin is a core module whose exports take nothing and return an i32 (0: success). Its
;; input and output live in the Extism kernel's memory, reached only through the kernel's
;; functions, imported from "extism:host/env" (the kernel libextism_sys.so embeds; a name it
;; lacks is refused when the plugin loads). This module's own memory holds its error text and
;; a scratch buffer for decimal digits.
;;
;; Exports:
;;   noop   returns 0 and sets no output: the cheapest call, for the per-call cost.
;;   echo   output = input (no copy: the output is the input's own block).
;;   refuse fails (returns 1) with the input as its error text, copied into a new kernel
;;          block as a plugin's error is: every failure names the request that failed.
;;   spin   input "N:payload" (N in decimal digits). Runs N iterations of acc += i, then
;;          output "S:" ++ reverse(payload), S = N*(N-1)/2 mod 2^64 in decimal. The answer
;;          depends on the whole input, so a caller that got another caller's output sees it.
;;          Any other input: the error below, and 1.
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_offset" (func $input_offset (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "error_set" (func $error_set (param i64)))

  (memory 1)
  ;; 47 bytes at 0; decimal digits are written backwards from 84 down (at most 20)
  (data (i32.const 0) "spin wants input N:payload, N in decimal digits")

  (func (export "noop") (result i32)
    (i32.const 0))

  (func (export "echo") (result i32)
    (call $output_set (call $input_offset) (call $input_length))
    (i32.const 0))

  ;; copy `len` bytes of this module's memory at `src` into a new kernel block: its offset
  (func $kernel_string (param $src i32) (param $len i32) (result i64)
    (local $dst i64) (local $k i32)
    (local.set $dst (call $alloc (i64.extend_i32_u (local.get $len))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $k) (local.get $len)))
        (call $store_u8
          (i64.add (local.get $dst) (i64.extend_i32_u (local.get $k)))
          (i32.load8_u (i32.add (local.get $src) (local.get $k))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $next)))
    (local.get $dst))

  (func (export "refuse") (result i32)
    (local $len i64) (local $dst i64) (local $k i64)
    (local.set $len (call $input_length))
    (local.set $dst (call $alloc (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $k) (local.get $len)))
        (call $store_u8 (i64.add (local.get $dst) (local.get $k))
          (call $input_load_u8 (local.get $k)))
        (local.set $k (i64.add (local.get $k) (i64.const 1)))
        (br $next)))
    (call $error_set (local.get $dst))
    (i32.const 1))

  (func $fail (result i32)
    (call $error_set (call $kernel_string (i32.const 0) (i32.const 47)))
    (i32.const 1))

  (func $spin (param $n i64) (result i64)
    (local $i i64) (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (local.get $acc))

  ;; the decimal digits of $v, written at [84 - count, 84); their count
  (func $decimal (param $v i64) (result i32)
    (local $k i32)
    (loop $next
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (i32.store8 (i32.sub (i32.const 84) (local.get $k))
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $next (i64.ne (local.get $v) (i64.const 0))))
    (local.get $k))

  (func (export "spin") (result i32)
    (local $len i64) (local $pos i64) (local $c i32) (local $n i64) (local $digits i32)
    (local $head i64) (local $payload i64) (local $out i64) (local $k i64)
    (local.set $len (call $input_length))
    ;; N: the decimal digits before the first ':'
    (block $colon
      (loop $next
        (if (i64.ge_u (local.get $pos) (local.get $len)) (then (return (call $fail))))
        (local.set $c (call $input_load_u8 (local.get $pos)))
        (br_if $colon (i32.eq (local.get $c) (i32.const 58)))
        (if (i32.gt_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 9))
          (then (return (call $fail))))
        (local.set $n (i64.add (i64.mul (local.get $n) (i64.const 10))
                               (i64.extend_i32_u (i32.sub (local.get $c) (i32.const 48)))))
        (local.set $pos (i64.add (local.get $pos) (i64.const 1)))
        (br $next)))
    (if (i64.eqz (local.get $pos)) (then (return (call $fail))))
    (local.set $payload (i64.sub (i64.sub (local.get $len) (local.get $pos)) (i64.const 1)))
    (local.set $digits (call $decimal (call $spin (local.get $n))))
    (local.set $head (i64.add (i64.extend_i32_u (local.get $digits)) (i64.const 1)))
    (local.set $out (call $alloc (i64.add (local.get $head) (local.get $payload))))
    ;; "S:"
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $k) (i64.extend_i32_u (local.get $digits))))
        (call $store_u8 (i64.add (local.get $out) (local.get $k))
          (i32.load8_u (i32.add (i32.sub (i32.const 84) (local.get $digits))
                                (i32.wrap_i64 (local.get $k)))))
        (local.set $k (i64.add (local.get $k) (i64.const 1)))
        (br $next)))
    (call $store_u8 (i64.add (local.get $out) (local.get $k)) (i32.const 58))
    ;; the payload reversed: out[head + k] = in[len - 1 - k]
    (local.set $k (i64.const 0))
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $k) (local.get $payload)))
        (call $store_u8 (i64.add (local.get $out) (i64.add (local.get $head) (local.get $k)))
          (call $input_load_u8
            (i64.sub (i64.sub (local.get $len) (i64.const 1)) (local.get $k))))
        (local.set $k (i64.add (local.get $k) (i64.const 1)))
        (br $next)))
    (call $output_set (local.get $out) (i64.add (local.get $head) (local.get $payload)))
    (i32.const 0)))
