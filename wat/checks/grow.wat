(module (memory (export "mem") 1)
  (func (export "grow1") (result i32) (memory.grow (i32.const 1))))
