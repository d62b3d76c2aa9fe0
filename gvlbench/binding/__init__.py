"""The binding layer: how a measuring child calls into Wasm, with the lock held or released.

invoke (call paths), embed (Stores and instances), hosts (the host-behaviour registry), guard
(the Store guard), measure (thread teams and progress), and internals, the one module that
touches wasmtime-py's private API. Importing this package loads nothing; its modules do.
"""
