# -- the defect -------------------------------------------------------------------------------
# A host callback that returns the wrong number of results should raise an error that says so.
# wasmtime-py says so when a 0-result import returns a value, but when a 1-result import
# returns two values it raises "TypeError: don't know how to convert (1, 1) to i32", and when a
# 2-result import returns one value "TypeError: object of type 'int' has no len()".
import sys

import wasmtime

CASES = {
    "one result declared, two returned": (["i32"], lambda x: (x, x)),
    "two results declared, one returned": (["i32", "i32"], lambda x: x),
    "no result declared, one returned": ([], lambda x: x),
}
engine = wasmtime.Engine()
unclear = 0
for case, (results, fn) in CASES.items():
    res = f"(result {' '.join(results)})" if results else ""
    wat = f"""(module (import "host" "f" (func $f (param i32) {res}))
      (func (export "run") (param i32) {res} (call $f (local.get 0))))"""
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    ty = wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32() for _ in results])
    linker.define_func("host", "f", ty, fn)
    run = linker.instantiate(store, wasmtime.Module(engine, wasmtime.wat2wasm(wat))).exports(store)[
        "run"
    ]
    try:
        run(store, 1)
        print(f"{case}: no error at all")
        unclear += 1
    except Exception as exc:
        clear = "result" in str(exc).lower()
        unclear += not clear
        print(f"{case}: {type(exc).__name__}: {exc}  [{'clear' if clear else 'UNCLEAR'}]")
print(f"mode {MODE}: {unclear} of {len(CASES)} cases without a clear error")  # noqa: F821
sys.exit(1 if unclear else 0)
