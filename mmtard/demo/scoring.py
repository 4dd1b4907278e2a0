"""Evaluate every model of the demo chain with mmtard's evaluation suite, reusing finished evaluations."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List

from rich.console import Console

from ..evaluation.plan import fingerprint
from ..evaluation.results import RESULTS_JSON, BenchmarkResult, read_results
from .stages import Run, Size

#: The two attack families the demo reports: PGD-10, and APGD-CE + APGD-T (AutoAttack 'custom').
ATTACK_FAMILIES = ('pgd', 'autoattack')
EVAL_EPS = (4, 8)
LOGIT_SCALE = 20.0  # the demo's tiny CLIP learns about 19; its configs use 20 throughout


def demo_benchmark(size: Size, cache_dir: Path, family: str) -> Dict[str, Any]:
    """The demo's benchmark: seen classes, held-out combinations (13-way and among all 64), MNIST."""

    def shapes(**kwargs: Any) -> Dict[str, Any]:
        return dict(type='ShapesDataset', split='test', num_samples=size.eval_clean, cache_dir=str(cache_dir),
                    **kwargs)

    attack = (dict(type='PGD', steps=size.pgd_steps, random_start=True) if family == 'pgd' else
              dict(type='AutoAttack', version='custom', n_iter=size.apgd_iters, n_target_classes=size.apgd_targets))
    return dict(
        datasets=[dict(name='shapes-seen-51', dataset=shapes(classes='seen')),
                  dict(name='held-out-13', dataset=shapes(classes='held_out')),
                  dict(name='held-out-among-64', dataset=shapes(classes='held_out', label_space='all')),
                  dict(name='mnist-digits', dataset=dict(type='MNISTDigits', split='test'))],
        eps=list(EVAL_EPS), n_clean=size.eval_clean, n_robust=size.eval_robust, attack=attack, batch_size=250,
        seed=0, logit_scale=LOGIT_SCALE, cache_dir=str(cache_dir.parent / 'text'))


def score_run(run: Run, root: Path, size: Size, family: str, console: Console) -> List[BenchmarkResult]:
    """The run's results under one attack family, computed once and then read back."""
    from ..apis.evaluate import evaluate

    benchmark = demo_benchmark(size, root / '.cache' / 'shapes', family)
    out = run.work_dir / 'eval' / f'{family}-{fingerprint(benchmark)}'  # other settings, other folder
    if (out / RESULTS_JSON).is_file():
        return read_results(out)
    options = json.loads((run.work_dir / 'stage.json').read_text())['options']
    inputs = {k: v for k, v in options.items() if k in run.stage.inputs}
    inputs['evaluation'] = benchmark
    return evaluate(run.config, checkpoint=run.checkpoint, out_dir=out, cfg_options=inputs, console=console,
                    tables=False)


def score_all(runs: List[Run], root: Path, size: Size, console: Console,
              log: Callable[[str], None]) -> List[Dict[str, Any]]:
    """One row per (run, attack family, dataset, eps): the evaluation schema plus model, seed, family."""
    rows = []
    for run in runs:
        for family in ATTACK_FAMILIES:
            log(f'[bold]evaluating[/] {run.stage.label} (seed {run.seed}) under {family}')
            for record in score_run(run, root, size, family, console):
                rows.append({'model': run.stage.name, 'label': run.stage.label, 'kind': run.stage.kind,
                             'model_seed': run.seed, 'attack_family': family, **record.as_dict()})
    return rows
