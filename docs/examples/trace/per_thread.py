"""pool.py's fix: one quickjs-rs Context per thread (threading.local), so no Store is shared.

`gvlbench trace -- python docs/examples/trace/per_thread.py` reports four Stores from one
line, one thread each (`per-thread`), and exits 0 (docs/audit.md). The evals per thread are
the first argument (50 by default).
"""

import sys
import threading

from quickjs_rs import Runtime

JS = "(function(){let s=0; for (let i=0;i<1000;i++) s+=i; return s})()"
local = threading.local()


def context():
    ctx = getattr(local, "ctx", None)
    if ctx is None:
        ctx = local.ctx = Runtime().new_context()
    return ctx


def work(evals):
    for _ in range(evals):
        assert context().eval(JS) == 499500


def main(evals):
    threads = [threading.Thread(target=work, args=(evals,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("4 threads,", 4 * evals, "evals")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
