"""How long after a SIGKILL of `gvlbench trace` until nothing it started is left.

Runs each set-up of tests/e2e/test_survivors.py (a fork child, a double-fork daemon with and
without its descriptors, a `sleep` in a session of its own) under a real `gvlbench trace`,
kills the harness with SIGKILL once the program is up, and polls /proc every 5 ms until no
process carries the run's marker. The test asserts that nothing survives; this says how fast.

    .venv/bin/python scripts/survivor_times.py [RUNS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import processes_with
from tests.e2e import test_survivors as survivors


def gone_ms(setup: str) -> tuple[float, int, list[int]]:
    """Milliseconds from SIGKILL until no marked process is left (10 s at most), how many
    were there before it, and any left after the 10 s."""
    tmp = Path(tempfile.mkdtemp())
    script, ready, out = tmp / "prog.py", tmp / "ready", tmp / "trace.json"
    script.write_text(survivors.PROGRAM.format(setup=survivors.SETUPS[setup]))
    harness = survivors.Harness(tmp, ["trace", "-q", "--json", str(out), "--", str(script),
                                      str(ready)])  # fmt: skip
    try:
        survivors.until(lambda: ready.exists() and out.exists(), 120)
        time.sleep(0.3)
        before = len(processes_with(harness.marker))
        start = time.monotonic()
        harness.kill()
        while processes_with(harness.marker) and time.monotonic() - start < 10:
            time.sleep(0.005)
        return (time.monotonic() - start) * 1000, before, processes_with(harness.marker)
    finally:
        harness.cleanup()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for setup in survivors.SETUPS:
        results = [gone_ms(setup) for _ in range(runs)]
        times = ", ".join(f"{ms:.0f}" for ms, _, _ in results)
        left = [pid for _, _, pids in results for pid in pids]
        print(f"{setup}: {results[0][1]} marked processes before the kill; all gone in {times} ms"
              + (f"; LEFT: {left}" if left else ""))  # fmt: skip


if __name__ == "__main__":
    main()
