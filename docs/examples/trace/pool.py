"""One quickjs-rs Context handed to a 4-thread pool: its Store is shared across threads.

Untraced, this aborts in Wasmtime's unwinder within a second (the threads' calls overlap
with the GIL released). `gvlbench trace -- python docs/examples/trace/pool.py` runs it to the
end and says where the Context was made and where the threads met (docs/audit.md). The
number of evals is the first argument (200 by default; the tests run fewer).
"""

import sys
from concurrent.futures import ThreadPoolExecutor

from quickjs_rs import Runtime

JS = "(function(){let s=0; for (let i=0;i<1000;i++) s+=i; return s})()"


def work(ctx, i):
    return ctx.eval(JS)


def main(evals):
    rt = Runtime()
    ctx = rt.new_context()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: work(ctx, i), range(evals)))
    print(len(results), "results:", sorted(set(results)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
