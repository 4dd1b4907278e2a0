"""The main methods' training steps timed side by side in one process, on the same batches.

Seconds logged by runs trained in parallel depend on what else ran at the time; a per-step cost that
can be compared needs every method stepped in one process, in rotation, on the same data, with each
method's caches warm (as from its second epoch): this module measures that.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import torch
from mmengine.registry import init_default_scope

from ...config import resolve_config
from ...registry import DATASETS, MODELS
from ..chain import Run, stage_options
from .arms import Arm

#: Batches the methods cycle through (their caches are filled on a first pass), and measured rounds.
BATCHES, ROUNDS = 4, 12


def resolved(arm: Arm, inputs: Dict[str, Run], root: Path, size: Any) -> Any:
    """The arm's config with every override its run gets."""
    init_default_scope('mmtard')
    cfg, options = stage_options(arm.stage, root, size, inputs)
    return resolve_config(cfg, options)


def measure(arms: Sequence[Arm], inputs: Dict[str, Run], root: Path, size: Any) -> Dict[str, Any]:
    """Median seconds per training step (attack, teacher forwards, loss, backward, AdamW step) of each
    arm, stepped in rotation on the same batches after one pass that fills every cache."""
    configs = {arm.method: resolved(arm, inputs, root, size) for arm in arms}
    first = next(iter(configs.values()))  # the arms train on the same data
    dataset, batch_size = DATASETS.build(first.train_dataloader.dataset), first.train_dataloader.batch_size
    models = {name: MODELS.build(cfg.model).train() for name, cfg in configs.items()}
    for model in models.values():
        model.ensure_classes(dataset.classnames, dataset.templates)
    batches = []
    for b in range(BATCHES):
        items = [dataset[i] for i in range(b * batch_size, (b + 1) * batch_size)]
        batches.append((torch.stack([item['inputs'] for item in items]), torch.tensor([item['label'] for item in items]),
                        torch.arange(b * batch_size, (b + 1) * batch_size)))
    optimizers = {name: torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
                  for name, model in models.items()}
    times: Dict[str, List[float]] = {name: [] for name in models}
    for round_index in range(BATCHES + ROUNDS):
        images, labels, index = batches[round_index % BATCHES]
        order = list(models)[round_index % len(models):] + list(models)[:round_index % len(models)]
        for name in order:
            model = models[name]
            start = time.perf_counter()
            model(images, label=labels, index=index, mode='loss')['loss'].backward()
            optimizers[name].step()
            optimizers[name].zero_grad()
            if round_index >= BATCHES:  # the first pass over the batches fills the caches
                times[name].append(time.perf_counter() - start)
    return {'median_seconds': {name: statistics.median(values) for name, values in times.items()},
            'batch_size': batch_size, 'rounds': ROUNDS, 'threads': torch.get_num_threads(),
            'description': (f'Median of {ROUNDS} steps per method at batch {batch_size}, in rotation in one '
                            f'process ({torch.get_num_threads()} threads) on the same {BATCHES} batches, caches '
                            f'warm; each step is the attack, the teacher forwards, the loss, the backward pass '
                            f'and the optimizer step.')}


def write(result: Dict[str, Any], root: Path) -> Path:
    path = root / 'step_cost.json'
    path.write_text(json.dumps(result, indent=2) + '\n')
    return path
