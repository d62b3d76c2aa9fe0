"""Paired ratios: timings taken round by round, a ratio per pair, and 95% intervals.

A ratio of two timings measured in the same round shares the machine's state of that moment,
so slow drift of a noisy box cancels within it. A speedup is the median per-round ratio;
per-core interference does not cancel (see `best_ratio_interval`), so the ratio of each
cell's fastest round is kept beside it. Intervals are percentile
bootstraps over whole rounds with a fixed seed, so the same file always gives the same
interval. A ratio is judged by its interval, never by its point value alone: a speedup whose
whole interval lies above min(threads, cores) cannot be physical and is a measurement error.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 19
# The interval's half-width, relative to the median, that `run` asks for: wider, and the
# table says the box was too noisy for that precision and offers --rigorous.
PRECISION = 0.05


@dataclass(frozen=True)
class Interval:
    """The median of `n` per-round ratios and its 95% confidence interval."""

    median: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """Half the interval, relative to the median (0.05: the ratio is known to ±5%)."""
        return (self.high - self.low) / 2 / self.median if self.median else math.inf

    def to_json(self) -> dict[str, float | int]:
        return {"median": self.median, "ci_low": self.low, "ci_high": self.high, "rounds": self.n}


def median_interval(ratios: Sequence[float], confidence: float = 0.95) -> Interval | None:
    """The median and its percentile-bootstrap interval; None without any ratio."""
    values = [r for r in ratios if math.isfinite(r) and r >= 0]
    if not values:
        return None
    mid = statistics.median(values)
    if len(values) < 3:  # nothing to resample meaningfully: the interval is the range
        return Interval(mid, min(values), max(values), len(values))
    rng = random.Random(BOOTSTRAP_SEED)
    n = len(values)
    medians = sorted(
        statistics.median(rng.choices(values, k=n)) for _ in range(BOOTSTRAP_RESAMPLES)
    )
    tail = (1 - confidence) / 2
    low = medians[int(tail * (BOOTSTRAP_RESAMPLES - 1))]
    high = medians[math.ceil((1 - tail) * (BOOTSTRAP_RESAMPLES - 1))]
    return Interval(mid, low, high, n)


def best_ratio_interval(
    numerator: Sequence[float],
    denominator: Sequence[float],
    scale: float = 1.0,
    confidence: float = 0.95,
) -> Interval | None:
    """scale * min(numerator) / min(denominator), the ratio of each cell's fastest round,
    with a bootstrap interval that resamples whole rounds (so the pairs stay pairs).

    Why look at the fastest rounds: this box's noise is per core. Another tenant of
    the host slows one vCPU at a time, for seconds (seen: lone-thread rounds of the same
    spin work at 49 to 82 ms, with nothing else running in the guest). A lone thread runs on
    whichever core is fast, while a T-thread round ends with its slowest thread, so pairing
    rounds cannot cancel it: the median per-round ratio of released spin read 1.43 to 1.94
    over nine idle runs, while the ratio of the fastest rounds read 1.89 to 2.01 (held 0.98
    to 1.01). Interference that only adds time leaves the fastest round least disturbed (Chen
    and Revels, "Robust benchmarking in noisy environments", 2016). But in another phase the
    cores were slow whenever both were busy while a lone thread was sometimes fast, and then
    this ratio read 1.45 with the median 1.89: it is shown beside the median, not instead."""
    pairs = [(a, b) for a, b in zip(numerator, denominator, strict=False)
             if a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)]  # fmt: skip
    if not pairs:
        return None

    def ratio(sample: Sequence[tuple[float, float]]) -> float:
        return scale * min(a for a, _ in sample) / min(b for _, b in sample)

    point = ratio(pairs)
    if len(pairs) < 3:
        return Interval(point, point, point, len(pairs))
    rng = random.Random(BOOTSTRAP_SEED)
    n = len(pairs)
    ratios = sorted(ratio(rng.choices(pairs, k=n)) for _ in range(BOOTSTRAP_RESAMPLES))
    tail = (1 - confidence) / 2
    low = ratios[int(tail * (BOOTSTRAP_RESAMPLES - 1))]
    high = ratios[math.ceil((1 - tail) * (BOOTSTRAP_RESAMPLES - 1))]
    return Interval(point, min(low, point), max(high, point), n)


def round_ratios(numerator: Sequence[float], denominator: Sequence[float], scale: float = 1.0):
    """scale * numerator[r] / denominator[r] for each round both have."""
    return [scale * a / b for a, b in zip(numerator, denominator, strict=False) if b > 0]


def impossible(speedup: Interval, threads: int, cpus: int, slack: float = 0.02) -> bool:
    """A speedup whose whole interval lies above what min(threads, cpus) cores can give
    (with 2% slack for clock granularity): the measurement is wrong, not the machine fast."""
    return speedup.low > min(threads, cpus) * (1 + slack)
