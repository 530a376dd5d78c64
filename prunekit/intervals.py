"""Paired confidence intervals: the statistics every table of the study rests on (Student's t over seeds)."""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """Mean of paired differences with a two-sided confidence interval (Student's t over n seeds)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.n > 1 and (self.low > 0 or self.high < 0)

    def text(self, digits: int = 2) -> str:
        if self.n == 0:
            return ""
        if self.n == 1:
            return f"{self.mean:+.{digits}f} (1 seed, no CI)"
        star = " *" if self.significant else ""
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]{star}"


def paired_ci(differences: Iterable[float], level: float = LEVEL) -> Interval:
    """Mean and ``level`` confidence interval of paired differences (one per seed), by the paired t test
    (scipy's, on the differences)."""
    from scipy.stats import ttest_1samp

    d = [float(x) for x in differences]
    if not d:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = statistics.fmean(d)
    if len(d) == 1:
        return Interval(mean, math.nan, math.nan, 1)
    with warnings.catch_warnings():  # identical differences (no spread) are a result, not a precision problem
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = ttest_1samp(d, 0.0).confidence_interval(level)
    return Interval(mean, float(ci.low), float(ci.high), len(d))


def _mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _median(values: list[float]) -> float:
    """Timings are medians over seeds: one step timed while the machine was busy should not move them."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else math.nan


def mean_std_text(values: list[float], digits: int = 3) -> str:
    m, s = _mean_std(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"
