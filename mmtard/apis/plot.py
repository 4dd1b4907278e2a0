"""Training curves of a work dir: the plain function behind `mmtard plot`.

mmengine's LocalVisBackend writes every logged scalar to ``<work_dir>/<timestamp>/vis_data/scalars.json``
(one folder per start, so a resumed run has several): training lines carry ``iter`` (and ``lr``, the
loss terms, batch accuracies), validation lines carry the validation metrics at their ``step``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from ..errors import ConfigError
from ..work_dir import check_output_dir

PLOT_FILE = 'training.png'
Series = Dict[str, Dict[float, float]]


def scalar_files(work_dir: Path) -> List[Path]:
    """The run's scalars.json files, oldest start first."""
    return sorted(work_dir.glob('*/vis_data/scalars.json'), key=lambda p: p.parent.parent.name)


def read_scalars(work_dir: Path) -> Tuple[Series, Series]:
    """(training, validation) series ``{name: {iteration: value}}``; a later start (a resume) wins
    where two logged the same iteration."""
    train: Series = {}
    val: Series = {}
    epoch_end: Dict[int, int] = {}
    val_lines = []
    for path in scalar_files(work_dir):
        for number, line in enumerate(path.read_text(encoding='utf-8', errors='replace').splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the line a killed run was writing
            if not isinstance(record, dict) or not isinstance(record.get('step'), (int, float)):
                continue
            if 'iter' in record:
                step = record['iter']
                if isinstance(record.get('epoch'), int):
                    epoch_end[record['epoch']] = max(epoch_end.get(record['epoch'], 0), step)
                for name, value in record.items():
                    if name not in ('iter', 'step', 'epoch', 'time', 'data_time', 'memory') and \
                            isinstance(value, (int, float)):
                        train.setdefault(name, {})[step] = float(value)
            else:
                val_lines.append(record)
    for record in val_lines:  # by-epoch runs log validation at the epoch number: place it at the epoch's last iteration
        step = epoch_end.get(record['step'], record['step']) if epoch_end else record['step']
        for name, value in record.items():
            if name not in ('step', 'time', 'data_time') and isinstance(value, (int, float)):
                val.setdefault(name, {})[step] = float(value)
    return train, val


def plot_training(work_dir: Union[str, os.PathLike], out: Optional[Union[str, os.PathLike]] = None) -> Path:
    """Write a PNG of the loss terms, the learning rate and clean/robust accuracy along training."""
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        raise ConfigError(f'{str(work_dir)!r} is not a folder; pass the work dir of a `mmtard train` run '
                          f'(e.g. work_dirs/<config name>).')
    train, val = read_scalars(work_dir)
    if not train and not val:
        raise ConfigError(f'{str(work_dir)!r} holds no logged training scalars (<timestamp>/vis_data/scalars.json); '
                          f'pass the work dir of a `mmtard train` run that logged at least once (the logger '
                          f'interval is default_hooks.logger.interval).')
    out = Path(out) if out is not None else work_dir / PLOT_FILE
    check_output_dir(out.parent, 'output folder')
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    losses = {k: v for k, v in train.items() if k == 'loss' or k.startswith(('loss_', 'kl_'))}
    accuracies = {**{f'val {k}': v for k, v in val.items() if 'acc' in k},
                  **{f'train batch {k}': v for k, v in train.items() if k.startswith('acc')}}
    panels = [('loss terms', losses, 'log'), ('learning rate', {'lr': train.get('lr', {})}, 'linear'),
              ('accuracy', accuracies, 'linear')]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, (title, series, scale) in zip(axes, panels):
        for name, points in sorted(series.items()):
            if points:
                steps = sorted(points)
                ax.plot(steps, [points[s] for s in steps], marker='o' if len(steps) < 30 else None,
                        linestyle='--' if name.startswith('train batch') else '-', label=name)
        ax.set_title(title)
        ax.set_xlabel('iteration')
        if scale == 'log' and all(v > 0 for points in series.values() for v in points.values()) and series:
            ax.set_yscale('log')
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, 'not logged', ha='center', va='center', transform=ax.transAxes)
    fig.suptitle(str(work_dir))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
