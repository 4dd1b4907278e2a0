"""Training efficiency: validation accuracy along iterations and wall-clock, and steps to a target.

The paper claims MMT-ARD reaches single-teacher distillation's robustness faster. Measured here: each
run validates every few iterations under a fixed attack at the training eps; its training time
(teacher forwards included, validation excluded) comes from the logger's per-iteration timer, logged
over windows as long as the validation interval, so the window means add up to the elapsed time.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..demo.report import logged_scalars


@dataclass
class Curve:
    """One run's validation points: iteration, cumulative training seconds, clean and robust accuracy."""

    iters: List[int]
    seconds: List[float]
    clean: List[float]
    robust: List[float]
    seconds_per_iter: float

    def first_reaching(self, target: float) -> Optional[int]:
        """Index of the first validation whose robust accuracy reaches ``target`` (None: never)."""
        return next((i for i, value in enumerate(self.robust) if value >= target), None)


def read_curve(work_dir: Path, interval: int) -> Curve:
    """The run's curve from its logged scalars; ``interval`` is its validation (= logging) interval."""
    elapsed, timeline = 0.0, {}
    points: Dict[int, Dict[str, float]] = {}
    for record in logged_scalars(work_dir):
        step = int(record['step'])
        if 'time' in record and 'loss' in record:  # a training record: mean iteration time over the window
            elapsed += float(record['time']) * interval
            timeline[step] = elapsed
        for key in ('clean_acc', 'robust_acc'):
            if f'zero_shot/{key}' in record:
                points.setdefault(step, {})[key] = float(record[f'zero_shot/{key}'])
    iters = sorted(step for step in points if step in timeline and len(points[step]) == 2)
    last = max(timeline) if timeline else 0
    return Curve(iters, [timeline[i] for i in iters], [points[i]['clean_acc'] for i in iters],
                 [points[i]['robust_acc'] for i in iters], elapsed / last if last else 0.0)


@dataclass
class StepsToTarget:
    """Iterations and seconds each seed took to first reach the target (None: not within training)."""

    iters: List[Optional[int]]
    seconds: List[Optional[float]]
    seconds_per_iter: List[float]

    @property
    def reached(self) -> int:
        return sum(value is not None for value in self.iters)

    def mean_iters(self) -> Optional[float]:
        return _mean_if_all(self.iters)

    def mean_seconds(self) -> Optional[float]:
        return _mean_if_all(self.seconds)


def _mean_if_all(values: Sequence[Optional[float]]) -> Optional[float]:
    """Mean over seeds, only when every seed has a value (a seed that never reached has no time)."""
    return statistics.fmean(values) if values and all(v is not None for v in values) else None


def steps_to_target(curves: Sequence[Curve], target: float) -> StepsToTarget:
    iters, seconds = [], []
    for curve in curves:
        index = curve.first_reaching(target)
        iters.append(None if index is None else curve.iters[index])
        seconds.append(None if index is None else curve.seconds[index])
    return StepsToTarget(iters, seconds, [c.seconds_per_iter for c in curves])


def final_robust(curves: Sequence[Curve]) -> float:
    """Mean over seeds of the last validation's robust accuracy: the baseline's target."""
    return statistics.fmean(c.robust[-1] for c in curves if c.robust)
