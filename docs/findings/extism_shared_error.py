"""extism's Python SDK hands a failing call on a shared Plugin another request's error.

Found with `gvlbench race --scenario extism_refuse --matrix` (extism 1.1.1, extism-sys
1.41.0); reproduced here with nothing but extism (and wasmtime-py's wat2wasm to build the
plugin from the WAT below).

`Plugin.call` is a C call, then `_check_error`: a second C call, `extism_plugin_error`, whose
answer points into a buffer the plugin's next call frees. Each C call takes the plugin's lock
alone, so another thread's call lands between them: the first caller raises that caller's
error (its request's data), or reads freed memory (a UnicodeDecodeError, or garbage that
happened to decode). Holding the GIL around each C call narrows the window, never closes it.
A Plugin per thread, or one lock around the whole Plugin.call, does.

    python docs/findings/extism_shared_error.py     # exit 1: "another request's error ..."

Exit 0 when, in `SECONDS`, every caller got its own error: the defect did not show.
"""

import collections
import sys
import threading
import time

import extism
import wasmtime

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
THREADS = 4

# A plugin whose one function fails with its input as the error text.
WAT = """(module
  (import "extism:host/env" "input_length" (func $len (result i64)))
  (import "extism:host/env" "input_load_u8" (func $load (param i64) (result i32)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store (param i64 i32)))
  (import "extism:host/env" "error_set" (func $error_set (param i64)))
  (memory 1)
  (func (export "refuse") (result i32) (local $n i64) (local $dst i64) (local $k i64)
    (local.set $n (call $len))
    (local.set $dst (call $alloc (local.get $n)))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $k) (local.get $n)))
      (call $store (i64.add (local.get $dst) (local.get $k)) (call $load (local.get $k)))
      (local.set $k (i64.add (local.get $k) (i64.const 1)))
      (br $next)))
    (call $error_set (local.get $dst))
    (i32.const 1)))"""

plugin = extism.Plugin(bytes(wasmtime.wat2wasm(WAT)), wasi=False)
seen: collections.Counter[str] = collections.Counter()
examples: dict[str, str] = {}
stop = time.monotonic() + SECONDS


def caller(i: int) -> None:
    request = f"request {i}"
    while time.monotonic() < stop:
        try:
            plugin.call("refuse", request)
            kind, text = "no error at all", ""
        except extism.Error as exc:
            text = str(exc)
            kind = "own" if text == request else (
                "another request's error" if text.startswith("request ") else "freed memory")
        except UnicodeDecodeError as exc:
            kind, text = "freed memory (UnicodeDecodeError)", str(exc)
        seen[kind] += 1
        examples.setdefault(kind, f"{request!r} got {text!r:.80}")


threads = [threading.Thread(target=caller, args=(i,)) for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for kind, count in seen.most_common():
    print(f"{count:>8,}  {kind}" + ("" if kind == "own" else f", e.g. {examples[kind]}"))
sys.exit(1 if set(seen) - {"own"} else 0)
