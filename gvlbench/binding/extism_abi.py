"""extism's C ABI: libextism_sys.so through two ctypes handles, and the SDK pointed at one.

The Python SDK (`extism`) loads the library with cffi in ABI mode: `extism_sys/__init__.py`
is `ffi.dlopen(<package dir>/libextism_sys.so)`, and cffi releases the GIL around every
foreign call. dlopen of the same path returns the same handle, so `ctypes.CDLL` and
`ctypes.PyDLL` on that file share the SDK's globals, and one `ExtismPlugin*` works through
all three loaders. `held` is PyDLL (the GIL kept for the call, as gvlbench does for
libwasmtime), `released` is CDLL (the GIL dropped around it, as cffi does).

The SDK reaches the library only through one module global, `extism.extism._lib`.
`point_sdk(mode)` swaps it for `LibProxy`, which answers the C functions `Plugin.call` uses
through the handle for the mode and hands every other name to the real cffi lib, so an
unmodified program's `Plugin.call` runs held or released. Only the C calls change: the
SDK's Python between them (a call is four C calls: call, error, output length, output
data) still runs, and the interpreter may switch threads there in either mode.

The signatures are those of the runtime's `extism.h` (not shipped in the wheels; extism's
repository, runtime/extism.h). Importing this module loads nothing.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any

from gvlbench.errors import UnavailableError
from gvlbench.modes import Mode

LIBRARY_NAME = "libextism_sys.so"
INSTALL = "pip install 'extism>=1.1.1,<1.2' 'extism-sys>=1.41,<2' (gvlbench's embedded extra)"

_P = ctypes.c_void_p  # every pointer as a plain int: nothing built per call
_SIZE = ctypes.c_uint64  # typedef uint64_t ExtismSize

# name -> (restype, argtypes), from runtime/extism.h. Names and data are c_char_p, so bytes
# pass without a copy.
SIGNATURES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    # const char *extism_version(void)
    "extism_version": (_P, ()),
    # int32_t extism_plugin_call(ExtismPlugin *plugin, const char *func_name,
    #     const uint8_t *data, ExtismSize data_len)
    "extism_plugin_call": (ctypes.c_int32, (_P, ctypes.c_char_p, ctypes.c_char_p, _SIZE)),
    # int32_t extism_plugin_call_with_host_context(ExtismPlugin *plugin,
    #     const char *func_name, const uint8_t *data, ExtismSize data_len, void *host_context)
    "extism_plugin_call_with_host_context": (
        ctypes.c_int32,
        (_P, ctypes.c_char_p, ctypes.c_char_p, _SIZE, _P),
    ),
    # const char *extism_plugin_error(ExtismPlugin *plugin): into a buffer the plugin's next
    # call frees
    "extism_plugin_error": (_P, (_P,)),
    # ExtismSize extism_plugin_output_length(ExtismPlugin *plugin)
    "extism_plugin_output_length": (_SIZE, (_P,)),
    # const uint8_t *extism_plugin_output_data(ExtismPlugin *plugin): into the kernel's memory
    "extism_plugin_output_data": (_P, (_P,)),
}
# The C functions Plugin.call uses (extism 1.1: call_with_host_context, then error, output
# length and data; older SDKs called extism_plugin_call): the ones the proxy answers
PER_CALL = tuple(name for name in SIGNATURES if name != "extism_version")
CALLS = ("extism_plugin_call", "extism_plugin_call_with_host_context")  # one per Plugin.call


@functools.cache
def library_path() -> Path:
    """Where extism-sys keeps the library, found without importing it (no cffi load)."""
    spec = importlib.util.find_spec("extism_sys")
    if spec is None or not spec.submodule_search_locations:
        raise UnavailableError(f"the extism binding needs extism-sys: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / LIBRARY_NAME
    if not path.is_file():
        raise UnavailableError(f"extism-sys has no {LIBRARY_NAME} at {path}")
    return path


def handle(mode: Mode) -> ctypes.CDLL:
    """The library through the ctypes loader for `mode` (PyDLL held, CDLL otherwise), every
    function of SIGNATURES bound: one object per loader."""
    return _handle(mode.loader)


@functools.cache
def _handle(loader_mode: Mode) -> ctypes.CDLL:
    loader = ctypes.PyDLL if loader_mode is Mode.HELD else ctypes.CDLL
    lib = loader(str(library_path()))
    for name, (restype, argtypes) in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


def versions() -> dict[str, str]:
    """The SDK's and the runtime's versions, from package metadata (nothing loaded)."""
    out = {}
    for dist in ("extism", "extism-sys"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = ""
    return out


class LibProxy:
    """Stands in for `extism_sys.lib` inside the SDK module: PER_CALL through the ctypes
    handle for `mode`, cffi pointers turned into ints on the way in and back into cffi
    pointers on the way out, so the SDK's own `error != _ffi.NULL`, `_ffi.string` and
    `_ffi.buffer` run unchanged. Every other name falls through to the real lib."""

    def __init__(self, real: Any, ffi: Any, mode: Mode) -> None:
        lib, addr, cast, null = handle(mode), _addr(ffi), ffi.cast, ffi.NULL
        self._real, self.mode = real, mode
        call, call_ctx = lib.extism_plugin_call, lib.extism_plugin_call_with_host_context
        error, length = lib.extism_plugin_error, lib.extism_plugin_output_length
        data = lib.extism_plugin_output_data

        def extism_plugin_call(plugin: Any, name: bytes, d: bytes, n: int) -> int:
            return call(addr(plugin), name, d, n)

        def extism_plugin_call_with_host_context(
            plugin: Any, name: bytes, d: bytes, n: int, ctx: Any
        ) -> int:
            return call_ctx(addr(plugin), name, d, n, int(cast("uintptr_t", ctx)))

        def extism_plugin_error(plugin: Any) -> Any:
            p = error(addr(plugin))
            return cast("const char *", p) if p else null

        def extism_plugin_output_length(plugin: Any) -> int:
            return length(addr(plugin))

        def extism_plugin_output_data(plugin: Any) -> Any:
            return cast("const uint8_t *", data(addr(plugin)) or 0)

        for fn in (extism_plugin_call, extism_plugin_call_with_host_context,
                   extism_plugin_error, extism_plugin_output_length,
                   extism_plugin_output_data):  # fmt: skip
            setattr(self, fn.__name__, fn)

    def __getattr__(self, name: str) -> Any:  # only names not set in __init__
        return getattr(self._real, name)


def _addr(ffi: Any) -> Any:
    """A plugin's cffi pointer as an int, cached (cdata pointers hash and compare by address,
    and a Plugin keeps one pointer for life)."""
    cache: dict[Any, int] = {}
    cast = ffi.cast

    def addr(p: Any) -> int:
        try:
            return cache[p]
        except (KeyError, TypeError):
            pass
        value = int(cast("uintptr_t", p))
        if len(cache) < 4096:
            cache[p] = value
        return value

    return addr


class CountingLib:
    """Whatever `_lib` was, with its calls into a plugin counted: the code probe's question
    (did the statement call a plugin through the SDK?)."""

    def __init__(self, inner: Any) -> None:
        self._inner, self.calls = inner, 0
        for name in CALLS:
            setattr(self, name, self._counted(getattr(inner, name)))

    def _counted(self, fn: Any) -> Any:
        def counted(*args: Any) -> Any:
            self.calls += 1
            return fn(*args)

        return counted

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def sdk() -> Any:
    """The SDK module whose `_lib` the proxy replaces, checked to be the one it was written
    for; UnavailableError (one line) when extism is missing or its Plugin.call uses a C
    function the proxy does not answer."""
    try:
        import extism.extism as module
        import extism_sys
    except ImportError as exc:
        raise UnavailableError(f"the extism binding needs {exc.name}: {INSTALL}") from None
    lib = getattr(module, "_lib", None)
    if not (lib is extism_sys.lib or isinstance(lib, LibProxy | CountingLib)):
        known = versions()["extism"]
        raise UnavailableError(f"extism.extism._lib is not extism_sys.lib: an SDK ({known}) "
                               f"the extism binding does not know; {INSTALL}")  # fmt: skip
    used = {n for fn in (module.Plugin.call, module.Plugin._check_error)
            for n in fn.__code__.co_names if n.startswith("extism_")}  # fmt: skip
    missing = sorted(used - set(PER_CALL))
    if missing:
        raise UnavailableError(f"extism.Plugin.call uses {', '.join(missing)}, which the extism "
                               f"binding does not route; {INSTALL}")  # fmt: skip
    return module


_PROXIES: dict[Mode, LibProxy] = {}


def point_sdk(mode: Mode) -> None:
    """From now on, every extism.Plugin.call in this process goes through `mode`'s handle."""
    module = sdk()
    import extism_sys

    loader = mode.loader
    if loader not in _PROXIES:
        _PROXIES[loader] = LibProxy(extism_sys.lib, extism_sys.ffi, loader)
    module._lib = _PROXIES[loader]


def count_sdk_calls() -> Any:
    """Count the process's plugin calls through the SDK from now on: a reader of the count."""
    module = sdk()
    counting = CountingLib(module._lib)
    module._lib = counting
    return lambda: counting.calls
