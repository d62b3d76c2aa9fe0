;; The smallest module worth instantiating: one function, no memory. The `instantiate`
;; entry-point race instantiates it into a shared Store, over and over, while the Store's
;; owner calls into another instance there.
(module
  (func (export "f") (result i32) (i32.const 1)))
