;; A host callback that calls back into its own Store: `run` calls the import `host.reenter`,
;; whose Python (or Ruby) body calls `inner` and reads the memory of the same Store before it
;; returns. A legal use that a Store guard must admit (designs.LEGAL_USES: reentry).
(module
  (import "host" "reenter" (func $reenter))
  (memory (export "memory") 1)
  (data (i32.const 0) "reentry")
  (func (export "run") (result i32)
    (call $reenter)
    (i32.const 1))
  (func (export "inner") (result i32)
    (i32.const 5)))
