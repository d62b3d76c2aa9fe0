;; A component whose export calls its one import (verify's component-exceptions):
;;   import host: func(n: u32) -> u32
;;   export run: func(n: u32) -> u32     returns host(n)
;; The host function is Python (a component host function), so a callback that raises hands
;; its exception to the caller through wasmtime/component/_enter.py.
(component
  (import "host" (func $host (param "n" u32) (result u32)))
  (core module $m
    (import "host" "f" (func $f (param i32) (result i32)))
    (func (export "run") (param i32) (result i32) (call $f (local.get 0))))
  (core func $f (canon lower (func $host)))
  (core instance $h (export "f" (func $f)))
  (core instance $i (instantiate $m (with "host" (instance $h))))
  (func (export "run") (param "n" u32) (result u32) (canon lift (core func $i "run")))
)
