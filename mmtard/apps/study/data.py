"""The study's data: everything its report is made from, read off the runs once and written as plain
JSON, so the report and figures can be rebuilt (and rechecked) from a committed copy without training
or evaluating anything (``mmtard study --from-data DIR``).

A data folder holds:

- ``results.json``: every evaluation row (the results schema plus the arm, its method, radius,
  teachers, budget and seeds), with per-sample outcomes, one row a line;
- ``curves.json``: each arm's validation curve per chain (iterations, training seconds, clean and
  robust validation accuracy);
- ``runs.json``: per arm and chain the last validation's diagnostics (the teachers on x and on the
  student's training x_adv), the loss shares, the validation attack that measured them and the
  training seconds;
- ``upstream.json``: per base CLIP and teacher, per chain, its last validation and the attack that
  measured it (``null`` where the stage was unpacked from the package and so has no log);
- ``step_cost.json``: the main methods' training steps timed side by side (when measured);
- ``meta.json``: the command, commit, date, machine, load averages and seconds of the run, and the
  study size (student iterations, validation images and interval, chains, jobs).
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ...atomic_files import write_bytes_atomic
from ...errors import ConfigError
from ..analysis import last_validation, loss_shares
from ..chain import CONFIG_DIR, Run
from .arms import Arm
from .efficiency import Curve

FILES = ('results.json', 'curves.json', 'runs.json', 'upstream.json', 'meta.json')
STEP_COST = 'step_cost.json'


def validation_attack(run: Run) -> Optional[Dict[str, Any]]:
    """The attack a run validated with (type, steps, eps in 1/255) as it ran: from the config the run
    saved in its folder, else (an unpacked stage) from its stage config with the stage's overrides."""
    from mmengine.config import Config

    saved = run.work_dir / Path(run.stage.config).name
    cfg = Config.fromfile(str(saved if saved.is_file() else CONFIG_DIR / run.stage.config))
    attack = dict(cfg.model.get('val_attack') or {})
    if not saved.is_file():
        prefix = 'model.val_attack.'
        attack.update({key[len(prefix):]: value for key, value in run.stage.options.items() if key.startswith(prefix)})
    if not attack:
        return None
    return {'type': attack.get('type', 'attack'), 'steps': attack.get('steps'), 'eps': attack.get('eps')}


def run_record(run: Run) -> Dict[str, Any]:
    """What the report reads of one run: its chain, origin, seconds, last validation and its attack."""
    return {'chain': run.seed, 'origin': run.origin, 'seconds': run.seconds,
            'last_validation': last_validation(run.work_dir), 'loss_shares': loss_shares(run.work_dir),
            'val_attack': validation_attack(run)}


def commit() -> str:
    """The mmtard commit the study ran from ('unknown' outside a git checkout)."""
    try:
        out = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else 'unknown'


def machine() -> str:
    import torch

    return (f'{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, '
            f'{"CUDA " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"}, '
            f'torch {torch.__version__}, Python {platform.python_version()}')


def collect(rows: Sequence[Dict[str, Any]], arms: Sequence[Arm], runs: Dict[str, List[Run]],
            curves: Dict[str, List[Curve]], upstream: Dict[str, List[Run]], root: Path,
            meta: Dict[str, Any]) -> Dict[str, Any]:
    """The study's data from its finished runs (see the module's docstring)."""
    step_cost = root / STEP_COST
    return {
        'results': list(rows),
        'curves': {name: [c.__dict__ for c in value] for name, value in curves.items()},
        'runs': {arm.name: [run_record(run) for run in runs[arm.name]] for arm in arms},
        'upstream': {name: {'label': stage_runs[0].stage.label, 'runs': [run_record(run) for run in stage_runs]}
                     for name, stage_runs in upstream.items()},
        'step_cost': json.loads(step_cost.read_text()) if step_cost.is_file() else None,
        'meta': {**meta, 'arms': [arm.name for arm in arms], 'commit': commit(),
                 'date': datetime.date.today().isoformat(), 'machine': machine()},
    }


def _dump(value: Any, one_item_a_line: bool = False) -> bytes:
    if one_item_a_line:  # results: a row a line keeps the file diffable and a third of its indented size
        text = '[\n' + ',\n'.join(json.dumps(item, sort_keys=True) for item in value) + '\n]\n'
    else:
        text = json.dumps(value, indent=1, sort_keys=True) + '\n'
    return text.encode()


def write_data(data: Dict[str, Any], folder: Path) -> Path:
    """Write ``data`` into ``folder`` (each file atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        write_bytes_atomic(folder / name, _dump(data[Path(name).stem], one_item_a_line=name == 'results.json'))
    if data.get('step_cost') is not None:
        write_bytes_atomic(folder / STEP_COST, _dump(data['step_cost']))
    return folder


def read_data(folder: Path) -> Dict[str, Any]:
    """The data :func:`write_data` wrote; a missing or unreadable file is named with what to do."""
    folder = Path(folder)
    data: Dict[str, Any] = {}
    for name in FILES + (STEP_COST,):
        path = folder / name
        if not path.is_file():
            if name == STEP_COST:
                data['step_cost'] = None
                continue
            raise ConfigError(f'{folder} is not a study data folder: {name} is missing. Point --from-data at the '
                              f'data/ folder a study run wrote (e.g. docs/study/data or work_dirs/study/data).')
        try:
            data[Path(name).stem] = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f'{path} is not valid JSON ({error}); restore it from git or rerun the study, '
                              f'which rewrites it from its runs.') from None
    return data
