(module (func (export "trap") unreachable) (func (export "nop")))
