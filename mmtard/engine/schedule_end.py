"""The learning-rate schedule must end where training ends.

A schedule whose end is written out (``param_scheduler[i].end``) does not follow ``max_iters``: with
``-o train_cfg.max_iters=30`` on a schedule that ends at 20, iterations 20-30 train at the schedule's
final learning rate (about 0 after a cosine), and the other way round training stops mid-schedule.
A resumed run is worse: its schedulers come back from the checkpoint with the old end, whatever the
config says. Both are said before training, with the fix: ``--stretch-schedule`` stretches the
schedule to the new end (every scheduler's begin and end scaled by new end / old end, ``T_max`` with
them), so warm-up and decay keep their shares of training.
(A warning, not a refusal: a short trial run of a long config stops mid-schedule on purpose.)
"""
from __future__ import annotations

import math
from typing import Any, List, Mapping, Optional, Sequence, Tuple

#: The hint every warning ends with.
FIX = ('Pass --stretch-schedule (apis.train(stretch_schedule=True)) to end the schedule at {total} instead, or set '
       'the schedulers\' end (-o param_scheduler=...) yourself.')


def training_length(cfg: Any) -> Tuple[Optional[int], bool]:
    """(max_iters or max_epochs, by_epoch) of the config's training loop; (None, False) when it has none."""
    train_cfg = cfg.get('train_cfg') or {}
    if train_cfg.get('max_iters') is not None and not train_cfg.get('by_epoch', False):
        return int(train_cfg['max_iters']), False
    if train_cfg.get('max_epochs') is not None:
        return int(train_cfg['max_epochs']), True
    return None, False


def _schedulers(cfg: Any) -> List[Mapping[str, Any]]:
    schedulers = cfg.get('param_scheduler') or []
    return [schedulers] if isinstance(schedulers, Mapping) else list(schedulers)


def schedule_end(schedulers: Sequence[Mapping[str, Any]], by_epoch: bool) -> Optional[int]:
    """Where the schedule ends: the latest finite ``end`` of the schedulers counted in the loop's unit
    (None when every scheduler follows the loop's length)."""
    ends = [s.get('end') for s in schedulers if bool(s.get('by_epoch', True)) == by_epoch]
    finite = [int(end) for end in ends if isinstance(end, (int, float)) and math.isfinite(end)]
    return max(finite) if finite else None


def _mismatch(end: int, total: int, unit: str, where: str) -> str:
    effect = (f'{unit}s {end}-{total} train at the schedule\'s final learning rate (about 0 after a cosine)'
              if total > end else f'training stops at {unit} {total}, {end - total} {unit}s before the schedule ends')
    return (f'warning: training runs {total} {unit}s but {where} ends the learning-rate schedule at {unit} {end}: '
            f'{effect}. ' + FIX.format(total=total))


def check_config_schedule(cfg: Any, stretch: bool) -> Optional[str]:
    """The warning for a written-out schedule end that differs from the loop's (None when they agree);
    with ``stretch``, the schedule in ``cfg`` is moved to end with the loop instead."""
    total, by_epoch = training_length(cfg)
    schedulers = _schedulers(cfg)
    end = schedule_end(schedulers, by_epoch)
    if total is None or end is None or end == total:
        return None
    if not stretch:
        return _mismatch(end, total, 'epoch' if by_epoch else 'iteration', 'the config\'s param_scheduler')
    stretched = []
    for scheduler in schedulers:
        scheduler = dict(scheduler)
        if bool(scheduler.get('by_epoch', True)) == by_epoch:
            begin, stop = _scaled(scheduler.get('begin', 0), scheduler.get('end'), total / end)
            scheduler['begin'] = begin
            if stop is not None:
                scheduler['end'] = stop
            if scheduler.get('T_max') is not None and stop is not None:
                scheduler['T_max'] = stop - begin
        stretched.append(scheduler)
    cfg.param_scheduler = stretched
    return None


def _scaled(begin: Any, end: Any, factor: float) -> Tuple[int, Optional[int]]:
    """A scheduler's begin and (finite) end scaled by ``factor``, at least one step apart."""
    new_begin = int(round(begin * factor))
    if not isinstance(end, (int, float)) or not math.isfinite(end):
        return new_begin, None
    return new_begin, max(new_begin + 1, int(round(end * factor)))


def check_resumed_schedule(runner: Any, stretch: bool) -> Optional[str]:
    """After a resume: the warning for schedulers restored with an end other than the loop's, or with
    ``stretch`` the note that they were moved to end with it (None when they agree)."""
    total, by_epoch = training_length(runner.cfg)
    schedulers = list(runner.param_schedulers or [])
    if isinstance(runner.param_schedulers, dict):
        schedulers = [s for group in runner.param_schedulers.values() for s in group]
    states = [{'end': s.end, 'by_epoch': s.by_epoch} for s in schedulers]
    end = schedule_end(states, by_epoch)
    if total is None or end is None or end == total:
        return None
    if not stretch:
        return _mismatch(end, total, 'epoch' if by_epoch else 'iteration', 'the resumed checkpoint\'s schedule')
    for scheduler in schedulers:
        if scheduler.by_epoch == by_epoch:
            scheduler.begin, stop = _scaled(scheduler.begin, scheduler.end, total / end)
            if stop is not None:
                scheduler.end = stop
                if hasattr(scheduler, 'T_max'):
                    scheduler.T_max = stop - scheduler.begin
    return f'--stretch-schedule: the resumed learning-rate schedule now ends at {total} instead of {end}.'
