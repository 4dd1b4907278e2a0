"""The uncertainty of accuracies: a binomial interval for one accuracy, and paired comparisons of two
models scored on the same samples (the difference of their accuracies and a 95% interval that says
what it covers).

One accuracy of n samples: :func:`wilson_half_width`, half the width of its 95% Wilson interval (the
binomial interval that stays inside [0, 1] and keeps its coverage near 0 and 1, where the normal
one fails).

Every result row keeps its per-sample outcomes (``clean_correct`` / ``robust_correct``, one '0' or
'1' a sample), so a difference between two models can carry its sampling error, and, with several
runs per model (seeds, or chains of base models and teachers), their spread too. Two intervals:

- :func:`chain_interval`, for runs that pair up (run k of each model shares its teachers and seed, as
  the study's chains do): a t interval over the per-run differences (n - 1 degrees of freedom, so a
  handful of runs gets the width it deserves), widened by the sampling error of the test samples that
  every run shares: ``d ± t(n-1) sqrt(s²/n + var_i(D_i)/N)``, with ``s²`` the variance of the per-run
  differences and ``D_i`` sample i's difference averaged over runs. The second term counts again the
  part of the sampling noise already in ``s²``, so the interval errs wide. With one run it is the
  sampling-only normal interval ``d ± 1.96 sqrt(var_i(D_i)/N)``. Bounds are clipped to [-1, 1], the
  range a difference of accuracies can take (a t interval on two runs can be far wider).
- :func:`bootstrap_interval`: a bootstrap that draws the runs with replacement (pairs of runs where
  they pair up, as the study's chains do; else each model's runs on their own), then the shared
  samples with replacement, the same draw for every run of both models.

Differences and bounds are fractions (0.012 is 1.2 points).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Two-sided 95% quantiles of Student's t for 1-30 degrees of freedom (beyond: a Cornish-Fisher series).
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
         2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
         2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)
Z975 = 1.959964
#: Bootstrap draws per interval, and the generator's seed (intervals are reproducible).
DRAWS, BOOTSTRAP_SEED = 4000, 0
#: What each interval covers, as reports state it.
COVERS_RUNS = 'runs and test samples'
COVERS_SAMPLES = 'test samples only'


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f'degrees of freedom must be at least 1, got {df}')
    if df <= len(_T975):
        return _T975[df - 1]
    z = Z975
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


@dataclass(frozen=True)
class Interval:
    """``a - b`` (``difference``) and its 95% interval [``low``, ``high``]; ``n`` samples per run,
    ``runs`` runs per model, ``covers`` what the interval counts (``COVERS_RUNS`` or ``COVERS_SAMPLES``)."""

    difference: float
    low: float
    high: float
    n: int
    runs: int
    covers: str

    def points(self, value: float) -> float:
        """``value`` in points, rounded as printed (-0.0 printed as +0.0)."""
        return round(100 * value, 1) + 0.0

    def text(self) -> str:
        """'+1.2 [-0.4, +2.9]', in points."""
        return f'{self.points(self.difference):+.1f} [{self.points(self.low):+.1f}, {self.points(self.high):+.1f}]'

    def word(self) -> str:
        """'better' when the interval as printed lies above 0, 'worse' when below, else 'tie'."""
        low, high = self.points(self.low), self.points(self.high)
        return 'better' if low > 0 else 'worse' if high < 0 else 'tie'


def wilson_half_width(accuracy: float, n: int) -> float:
    """Half the width of the 95% Wilson interval of an accuracy measured on ``n`` samples."""
    if n < 1:
        raise ValueError(f'an accuracy needs at least one sample, got n={n}')
    z2 = Z975 ** 2
    return Z975 / (1 + z2 / n) * math.sqrt(accuracy * (1 - accuracy) / n + z2 / (4 * n * n))


def outcomes(bits: str) -> np.ndarray:
    """Per-sample outcomes ('0110...') as 0.0 / 1.0."""
    if not bits or set(bits) - {'0', '1'}:
        raise ValueError('per-sample outcomes must be a non-empty string of 0s and 1s')
    return (np.frombuffer(bits.encode('ascii'), dtype=np.uint8) - ord('0')).astype(np.float64)


def _matrix(runs: Sequence[np.ndarray], what: str) -> np.ndarray:
    if not runs:
        raise ValueError(f'{what}: no runs to compare')
    lengths = {len(run) for run in runs}
    if len(lengths) != 1:
        raise ValueError(f'{what}: the runs were scored on different numbers of samples ({sorted(lengths)})')
    return np.asarray(runs, dtype=np.float64)


def chain_interval(differences: Sequence[np.ndarray]) -> Interval:
    """The interval of paired runs from each run's per-sample differences ``a_ki - b_ki`` (run k of both
    models paired; sample i the same in every run): see the module's docstring."""
    diffs = _matrix(differences, 'chain_interval')
    runs, n = diffs.shape
    per_run = diffs.mean(axis=1)
    shared = diffs.mean(axis=0)
    sampling = float(shared.var(ddof=1)) / n if n > 1 else 0.0
    mean = float(per_run.mean())
    if runs == 1:
        half = Z975 * math.sqrt(sampling)
    else:
        half = t_quantile_975(runs - 1) * math.sqrt(float(per_run.var(ddof=1)) / runs + sampling)
    return Interval(mean, max(-1.0, mean - half), min(1.0, mean + half), n, runs,
                    COVERS_SAMPLES if runs == 1 else COVERS_RUNS)


def bootstrap_interval(a: Sequence[np.ndarray], b: Sequence[np.ndarray], paired: bool = False,
                       draws: int = DRAWS, seed: int = BOOTSTRAP_SEED) -> Interval:
    """The interval of ``mean(a) - mean(b)`` from each model's per-sample outcomes, one array a run
    (sample i the same in every run of both): the runs drawn with replacement (run k of ``a`` with run k
    of ``b`` when ``paired``, else each model's on their own), then the samples, jointly for all runs;
    the 2.5 and 97.5 percentiles of ``draws`` draws."""
    outcomes_a, outcomes_b = _matrix(a, 'bootstrap_interval'), _matrix(b, 'bootstrap_interval')
    if outcomes_a.shape[1] != outcomes_b.shape[1]:
        raise ValueError(f'bootstrap_interval: the models were scored on {outcomes_a.shape[1]} and '
                         f'{outcomes_b.shape[1]} samples; a paired comparison needs the same ones')
    if paired and len(outcomes_a) != len(outcomes_b):
        raise ValueError(f'bootstrap_interval: paired runs need as many runs of each model, got '
                         f'{len(outcomes_a)} and {len(outcomes_b)}')
    rng = np.random.default_rng(seed)
    n = outcomes_a.shape[1]
    values = np.empty(draws)
    batch = max(1, 2_000_000 // max(n, 1))
    for start in range(0, draws, batch):
        size = min(batch, draws - start)
        weights = []
        for side in (outcomes_a, outcomes_b):  # each drawn run counts once per time it is drawn
            if not (paired and weights):
                picks = rng.integers(0, len(side), size=(size, len(side)))
            counts = np.zeros((size, len(side)))
            np.add.at(counts, (np.arange(size)[:, None], picks), 1.0)
            weights.append(counts / len(side))
        per_sample = weights[0] @ outcomes_a - weights[1] @ outcomes_b
        samples = rng.integers(0, n, size=(size, n))
        values[start:start + size] = np.take_along_axis(per_sample, samples, axis=1).mean(axis=1)
    low, high = np.percentile(values, [2.5, 97.5])
    covers = COVERS_SAMPLES if len(outcomes_a) == len(outcomes_b) == 1 else COVERS_RUNS
    return Interval(float(outcomes_a.mean() - outcomes_b.mean()), float(low), float(high), n,
                    min(len(outcomes_a), len(outcomes_b)), covers)
