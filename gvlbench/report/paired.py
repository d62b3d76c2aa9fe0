"""Paired ratios: one ratio per round, their median, and a 95% confidence interval.

A ratio of two timings measured in the same round shares the machine's state of that moment,
so the drift of a noisy box cancels within it; what is left shows up as the spread of the
per-round ratios, which the interval states. The interval is a percentile bootstrap of the
median (resampling rounds), with a fixed seed, so the same file always gives the same
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


def round_ratios(numerator: Sequence[float], denominator: Sequence[float], scale: float = 1.0):
    """scale * numerator[r] / denominator[r] for each round both have."""
    return [scale * a / b for a, b in zip(numerator, denominator, strict=False) if b > 0]


def impossible(speedup: Interval, threads: int, cpus: int, slack: float = 0.02) -> bool:
    """A speedup whose whole interval lies above what min(threads, cpus) cores can give
    (with 2% slack for clock granularity): the measurement is wrong, not the machine fast."""
    return speedup.low > min(threads, cpus) * (1 + slack)
