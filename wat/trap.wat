;; A Wasm trap: `unreachable` must come back to the caller as a Trap, never a crash.
(module
  (func (export "trap")
    (unreachable)))
