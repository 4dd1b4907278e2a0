"""Evaluate the chain's models with mmtard's evaluation suite, reusing finished evaluations."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..apis.eval_progress import EvaluationProgress
from ..atomic_files import write_bytes_atomic
from ..evaluation.results import BenchmarkResult, read_results
from .chain import Run, Size
from .shipped import shipped_evaluation

SEEN, HELD13, HELD64, MNIST = 'shapes-seen-51', 'held-out-13', 'held-out-among-64', 'mnist-digits'
DATASETS = (SEEN, HELD13, HELD64, MNIST)
#: Chance accuracy of each dataset's label space.
CHANCE = {SEEN: 1 / 51, HELD13: 1 / 13, HELD64: 1 / 64, MNIST: 1 / 10}

#: The paper's evaluation radii (1/255 units).
EVAL_EPS = (1, 2, 4)
LOGIT_SCALE = 20.0  # the tiny CLIPs learn about 19; the chain's configs use 20 throughout


def chain_attack(size: Size) -> Dict[str, Any]:
    """AutoAttack 'custom' (APGD-CE + APGD-T) at the size's budget: fewer iterations, targets and
    restarts than the reference, so every result names it '[reduced]' rather than AutoAttack."""
    return dict(type='AutoAttack', version='custom', n_iter=size.apgd_iters, n_target_classes=size.apgd_targets,
                n_restarts=1)


def benchmark(size: Size, cache_dir: Path, datasets: Sequence[str] = DATASETS,
              n_robust: Optional[int] = None) -> Dict[str, Any]:
    """An ``evaluation`` section over the chain's datasets: seen classes, held-out combinations (13-way
    and among all 64), real MNIST digits; ``n_robust`` attacked samples each (default the size's)."""

    def shapes(**kwargs: Any) -> Dict[str, Any]:
        return dict(type='ShapesDataset', split='test', num_samples=size.eval_clean, cache_dir=str(cache_dir),
                    **kwargs)

    entries = {SEEN: shapes(classes='seen'), HELD13: shapes(classes='held_out'),
               HELD64: shapes(classes='held_out', label_space='all'), MNIST: dict(type='MNISTDigits', split='test')}
    return dict(datasets=[dict(name=name, dataset=entries[name]) for name in datasets],
                eps=list(EVAL_EPS), n_clean=size.eval_clean, n_robust=n_robust or size.eval_robust,
                attack=chain_attack(size), batch_size=250, seed=0, logit_scale=LOGIT_SCALE,
                cache_dir=str(cache_dir.parent / 'text'))


def dataset_section(section: Mapping[str, Any], name: str) -> Dict[str, Any]:
    """``section`` restricted to its dataset ``name``: every batch's attack is seeded by (seed, dataset,
    eps, batch), so its rows are the whole section's rows of that dataset."""
    return dict(section, datasets=[entry for entry in section['datasets'] if entry['name'] == name])


def known_rows(run: Run, section: Mapping[str, Any],
               whole: Optional[Mapping[str, Any]] = None) -> Optional[List[Dict[str, Any]]]:
    """The run's result rows under ``section`` where they are known without evaluating: shipped with the
    package, or, for a ``section`` that is part of ``whole`` (:func:`dataset_section`), shipped or
    computed earlier under ``whole`` (an earlier demo evaluated each model as one job)."""
    names = {entry['name'] for entry in section['datasets']}
    for source in [section] + ([whole] if whole is not None else []):
        rows = shipped_evaluation(run.stage.name, source) if run.origin == 'shipped' else None
        if rows is None and source is whole and run.evaluation_results(whole).is_file():
            rows = json.loads(run.evaluation_results(whole).read_text())
        rows = [row for row in rows or () if row['dataset'] in names]
        if rows:
            return rows
    return None


def score_run(run: Run, section: Dict[str, Any], progress: Optional[EvaluationProgress] = None,
              whole: Optional[Mapping[str, Any]] = None) -> List[BenchmarkResult]:
    """The run's results on ``section`` (an ``evaluation`` section), computed once and then read back;
    ``progress`` sees the evaluation (default: nothing is shown); ``whole``: the section ``section`` is
    part of, whose known rows are read (:func:`known_rows`)."""
    from ..apis.evaluate import evaluate

    results = run.evaluation_results(section)
    out = results.parent
    known = known_rows(run, section, whole) if not results.is_file() else None
    if known is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(results, (json.dumps(known, indent=2) + '\n').encode())
    if results.is_file():
        return read_results(out)
    options = json.loads((run.work_dir / 'stage.json').read_text())['options']
    inputs = {k: v for k, v in options.items() if k in run.stage.inputs or k in run.stage.options}
    inputs['evaluation'] = section
    return evaluate(run.config, checkpoint=run.checkpoint, out_dir=out, cfg_options=inputs,
                    progress=progress or EvaluationProgress())
