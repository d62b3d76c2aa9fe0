"""The trace hook: watches every watched object of a Python process (wasmtime Stores, extism
Plugins, a compiled extension's codecs, any class `--watch` names), from its start-up.

This package runs inside the traced program, whose interpreter may not have gvlbench
installed (a free-threaded venv holds wasmtime and little else), so it imports nothing but
the standard library and, once the program imports it, wasmtime. The harness talks to it
only through environment variables, read once here:

- GVLBENCH_TRACE_DIR: where this process writes its records (one JSON-lines file per process,
  each record written with one unbuffered write, so a crash loses nothing written before it);
- GVLBENCH_TRACE_ON_OVERLAP: what a thread entering a Store another thread is inside does:
  `wait` for it to leave (the program lives), `refuse` (StoreInUseError) or `proceed`
  (record only: the undefined behaviour happens);
- GVLBENCH_TRACE_WATCH: the classes whose objects two threads must not be inside at once,
  with their entry points, as JSON (watch.py): every binding's, and `--watch`;
- GVLBENCH_TRACE_PATCHES, GVLBENCH_TRACE_GVLBENCH: gvlbench's patches to apply when the
  program imports wasmtime (comma-separated names), and where the harness's gvlbench is;
- GVLBENCH_TRACE_TIMELINE: set to record every thread's states (timeline.py);
- GVLBENCH_TRACE_ALIVE: a FIFO the harness holds open; when it closes (the harness died,
  whatever the signal), this process kills its process group.

wasmtime, and every watched module, is patched the moment it is imported (an import hook),
not at start-up, so a process that never uses it never loads libwasmtime.

The package itself imports nothing: sitecustomize calls `arm.start()`, and its modules import
each other, never through a package that imports them back.
"""
