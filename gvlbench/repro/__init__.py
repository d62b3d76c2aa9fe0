"""Standalone reproducers of findings, written next to the results by `gvlbench verify`.

Each is a plain Python script that needs nothing but wasmtime; its first lines set MODE and
are filled in when it is written. It exits 1 when the defect reproduces and 0 when not.
"""
