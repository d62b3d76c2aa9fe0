"""A test file whose module-level Context every test shares, as suites often do.

`pytest --parallel-threads 4` (pytest-run-parallel, in the `test` extra) runs each test in
4 threads at once; `gvlbench trace -- pytest --parallel-threads 4 docs/examples/trace/`
watches that run (docs/audit.md).
"""

from quickjs_rs import Runtime

JS = "(function(){let s=0; for (let i=0;i<1000;i++) s+=i; return s})()"
CTX = Runtime().new_context()


def test_eval():
    for _ in range(20):
        assert CTX.eval(JS) == 499500


def test_globals():
    for i in range(20):
        assert CTX.eval(f"{i} * 2") == i * 2
