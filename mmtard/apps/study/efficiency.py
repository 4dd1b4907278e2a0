"""Training efficiency: validation robust accuracy along iterations and training seconds, and the
steps each of two arms needs to reach a target both reach.

The paper claims MMT-ARD reaches single-teacher distillation's robustness faster. Measured here: each
run validates every few iterations under a fixed attack at its training eps; its training time
(teacher forwards included, validation excluded) comes from the logger's per-iteration timer, logged
over windows as long as the validation interval, so the window means add up to the elapsed time.
A target is taken per seed as the lower of the two arms' final validation robust accuracies (and
fixed fractions of it), so both arms always reach it and a ratio always exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..analysis import logged_scalars

#: Validations along each run's base budget (a 4x-budget run validates as often: four times as many times).
VALIDATIONS = 10
#: Targets as fractions of the lower final validation robust accuracy of the two arms compared.
TARGET_FRACTIONS = (1.0, 0.9, 0.75)


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
class Race:
    """Two arms' runs of one seed against one target: iterations and seconds each first reached it."""

    seed: int
    target: float
    iters: Dict[str, Optional[int]]
    seconds: Dict[str, Optional[float]]

    def ratio(self, baseline: str, arm: str, of: str = 'iters') -> Optional[float]:
        """baseline's / arm's cost to the target (> 1: the arm is faster)."""
        values = self.iters if of == 'iters' else self.seconds
        if values[baseline] is None or values[arm] is None or not values[arm]:
            return None
        return values[baseline] / values[arm]


def race(curves: Dict[str, Curve], seed: int, fraction: float) -> Race:
    """Both arms against ``fraction`` of the lower of their final validation robust accuracies."""
    target = fraction * min(curve.robust[-1] for curve in curves.values())
    iters, seconds = {}, {}
    for name, curve in curves.items():
        index = curve.first_reaching(target)
        iters[name] = None if index is None else curve.iters[index]
        seconds[name] = None if index is None else curve.seconds[index]
    return Race(seed, target, iters, seconds)


def races(baseline: Sequence[Curve], arm: Sequence[Curve], names: Sequence[str], fraction: float) -> List[Race]:
    """One race per seed both arms have validations for."""
    return [race({names[0]: a, names[1]: b}, seed, fraction)
            for seed, (a, b) in enumerate(zip(baseline, arm)) if a.robust and b.robust]
