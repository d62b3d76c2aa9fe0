(module
  (func (export "nothing"))
  (func (export "i32_i32") (param i32) (result i32) (local.get 0))
  (func (export "i64_i32_i64") (param i64 i32) (result i64) (local.get 0))
  (func (export "f32x3_f32") (param f32 f32 f32) (result f32) (local.get 2))
  (func (export "mixed") (param f64 i64 i32 f32) (result f64 i32) (local.get 0) (local.get 2))
  (func (export "f64_none") (param f64)))
