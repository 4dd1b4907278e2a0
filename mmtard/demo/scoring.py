"""Evaluate every model of the demo chain with mmtard's evaluation suite, reusing finished evaluations."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List

from rich.console import Console

from ..evaluation.plan import fingerprint
from ..evaluation.results import RESULTS_JSON, BenchmarkResult, read_results
from .stages import Run, Size

SEEN, HELD13, HELD64, MNIST = 'shapes-seen-51', 'held-out-13', 'held-out-among-64', 'mnist-digits'

#: The paper's evaluation radii (1/255 units).
EVAL_EPS = (1, 2, 4)
LOGIT_SCALE = 20.0  # the demo's tiny CLIP learns about 19; its configs use 20 throughout


def demo_attack(size: Size) -> Dict[str, Any]:
    """AutoAttack 'custom' (APGD-CE + APGD-T) at the size's budget: fewer iterations, targets and
    restarts than the reference, so every result names it '[reduced]' rather than AutoAttack."""
    return dict(type='AutoAttack', version='custom', n_iter=size.apgd_iters, n_target_classes=size.apgd_targets,
                n_restarts=1)


def demo_benchmark(size: Size, cache_dir: Path) -> Dict[str, Any]:
    """The demo's benchmark: seen classes, held-out combinations (13-way and among all 64), MNIST."""

    def shapes(**kwargs: Any) -> Dict[str, Any]:
        return dict(type='ShapesDataset', split='test', num_samples=size.eval_clean, cache_dir=str(cache_dir),
                    **kwargs)

    return dict(
        datasets=[dict(name=SEEN, dataset=shapes(classes='seen')),
                  dict(name=HELD13, dataset=shapes(classes='held_out')),
                  dict(name=HELD64, dataset=shapes(classes='held_out', label_space='all')),
                  dict(name=MNIST, dataset=dict(type='MNISTDigits', split='test'))],
        eps=list(EVAL_EPS), n_clean=size.eval_clean, n_robust=size.eval_robust, attack=demo_attack(size),
        batch_size=250, seed=0, logit_scale=LOGIT_SCALE, cache_dir=str(cache_dir.parent / 'text'))


def score_run(run: Run, benchmark: Dict[str, Any], console: Console) -> List[BenchmarkResult]:
    """The run's results on ``benchmark`` (an ``evaluation`` section), computed once and then read back."""
    from ..apis.evaluate import evaluate

    out = run.work_dir / 'eval' / fingerprint(benchmark)  # other settings, other folder
    if (out / RESULTS_JSON).is_file():
        return read_results(out)
    options = json.loads((run.work_dir / 'stage.json').read_text())['options']
    inputs = {k: v for k, v in options.items() if k in run.stage.inputs or k in run.stage.options}
    inputs['evaluation'] = benchmark
    return evaluate(run.config, checkpoint=run.checkpoint, out_dir=out, cfg_options=inputs, console=console,
                    tables=False)


def score_all(runs: List[Run], root: Path, size: Size, console: Console,
              log: Callable[[str], None]) -> List[Dict[str, Any]]:
    """One row per (run, dataset, eps): the evaluation schema plus the stage and its seed."""
    rows = []
    benchmark = demo_benchmark(size, root / '.cache' / 'shapes')
    for run in runs:
        log(f'[bold]evaluating[/] {run.stage.label} (seed {run.seed})')
        for record in score_run(run, benchmark, console):
            rows.append({'stage': run.stage.name, 'label': run.stage.label, 'kind': run.stage.kind,
                         'model_seed': run.seed, **record.as_dict()})
    return rows
