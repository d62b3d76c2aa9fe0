"""The parent side: plans, one execution loop (loop.py), and each experiment's recording.

Nothing here measures in-process: every measurement is a child process (runner.py) that
speaks the protocol (protocol.py). The harness never imports the worker.
"""
