# -- how the script calls into Wasm -----------------------------------------------------------
# "released": wasmtime-py as shipped (its library is loaded with ctypes.cdll, which releases
# the GIL around every call). "held": the same wasmtime_func_call from the same library, through
# ctypes.PyDLL, which keeps the GIL for the whole call.
import ctypes

from wasmtime import _bindings, _ffi

if MODE == "held":  # noqa: F821 (set above by gvlbench)
    _held = ctypes.PyDLL(str(_ffi.filename)).wasmtime_func_call
    _held.restype = _bindings._wasmtime_func_call.restype
    _held.argtypes = _bindings._wasmtime_func_call.argtypes
    _bindings._wasmtime_func_call = _held
