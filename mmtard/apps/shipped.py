"""Weights of the chain's pretraining stages (chain seed 0, size 'full') shipped inside the package, so
the demo's first run trains only its students; ``mmtard demo --from-scratch`` retrains them.

Each file is recorded with the *recipe* that made it: a fingerprint of its stage's config, overrides
and seed offset and of the recipes of the stages it starts from. A shipped file is used only while
the installed configs still give the same recipe; after any change to them the stage is trained
again, with a note saying so. Files hold a stage's student state dict; the token embedding keeps
only the rows of the words the chain's texts use (every other row stays at its random start and is
never read by the chain), which shrinks a file from 13-29 MB to 1-4 MB.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Sequence

import torch

from ..checkpoint import load_state_dict_file
from ..config import load_config
from ..datasets.shapes import ALL_CLASSES, TEMPLATES as SHAPE_TEMPLATES
from ..datasets.templates import get_class_names_and_templates
from ..evaluation.plan import fingerprint
from .chain import CONFIG_DIR, Run, Size, Stage, size_options

SHIPPED_DIR = Path(__file__).resolve().parent / 'pretrained'
MANIFEST = 'manifest.json'
TOKEN_KEY = 'model.token_embedding.weight'
#: How shipped files name the kept rows of the token embedding, and its full number of rows.
ROWS_KEY, SIZE_KEY = 'token_embedding_rows', 'token_embedding_size'


def recipe(stage: Stage, size: Size, input_recipes: Dict[str, str]) -> str:
    """What makes a stage's weights, independent of where its inputs are stored."""
    cfg = load_config(CONFIG_DIR / stage.config)
    return fingerprint([cfg.to_dict(), {**size_options(cfg, size), **stage.options}, stage.seed_offset,
                        {key: input_recipes[source] for key, source in sorted(stage.inputs.items())}])


def recipes(stages: Sequence[Stage], size: Size) -> Dict[str, str]:
    """Every stage's recipe, in chain order (inputs come first)."""
    out: Dict[str, str] = {}
    for stage in stages:
        out[stage.name] = recipe(stage, size, out)
    return out


def chain_texts() -> List[str]:
    """Every text the chain's text towers read: shape captions (with 'small' / 'large') and prompts
    over all 64 combinations, and MNIST's class prompts."""
    names = [f'{size}{name}' for name in ALL_CLASSES for size in ('', 'small ', 'large ')]
    texts = [t.format(name) for t in SHAPE_TEMPLATES for name in names]
    digits, templates = get_class_names_and_templates('mnist')
    return texts + [t.replace('{}', d) for t in templates for d in digits]


def used_token_rows(tokenizer: Callable[[Sequence[str]], torch.Tensor], texts: Iterable[str]) -> torch.Tensor:
    return torch.unique(tokenizer(list(texts)).flatten())


def pack(run: Run, tokenizer: Callable[[Sequence[str]], torch.Tensor], out_dir: Path) -> str:
    """Write the run's student weights, token embedding trimmed to the chain's words; returns the file name."""
    from safetensors.torch import save_file

    state = load_state_dict_file(str(run.checkpoint))
    rows = used_token_rows(tokenizer, chain_texts())
    state = {**state, TOKEN_KEY: state[TOKEN_KEY][rows].clone(), ROWS_KEY: rows,
             SIZE_KEY: torch.tensor(state[TOKEN_KEY].shape[0])}
    name = f'{run.stage.name}.safetensors'
    save_file({k: v.contiguous() for k, v in state.items()}, str(out_dir / name))
    return name


def unpack(file: Path, target: Path) -> Path:
    """A shipped file as an mmengine-style checkpoint of the stage's student (zeros in the token rows
    the chain never reads), which the next stages load like a stage checkpoint. Written once."""
    if target.is_file():
        return target
    from safetensors.torch import load_file

    state = load_file(str(file))
    rows = state.pop(ROWS_KEY)
    kept = state[TOKEN_KEY]
    full = kept.new_zeros((int(state.pop(SIZE_KEY)), kept.shape[1]))
    full[rows] = kept
    state[TOKEN_KEY] = full
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f'.{target.name}.tmp')
    torch.save({'state_dict': {f'student.{k}': v for k, v in state.items()}}, tmp)
    tmp.replace(target)
    return target


def shipped_runs(stages: Sequence[Stage], size: Size, root: Path,
                 log: Callable[[str], None]) -> Dict[str, Run]:
    """The shipped runs (chain seed 0) whose recipe the installed configs still give, by stage name."""
    path = SHIPPED_DIR / MANIFEST
    if size.name != 'full' or not path.is_file():
        return {}
    manifest = json.loads(path.read_text())
    current = recipes(stages, size)
    runs: Dict[str, Run] = {}
    for stage in stages:
        entry = manifest.get(stage.name)
        if entry is None:
            continue
        if entry['recipe'] != current[stage.name]:
            log(f'[yellow]note[/] the shipped {stage.label} was made by another recipe than the installed configs '
                f'give: training it instead.')
            continue
        target = root / '.cache' / 'pretrained' / f'{stage.name}-{entry["recipe"]}.pth'
        runs[stage.name] = Run(stage, 0, target.parent, unpack(SHIPPED_DIR / entry['file'], target),
                               CONFIG_DIR / stage.config, entry['seconds'], reused=True)
    return runs


def write_manifest(runs: Sequence[Run], stages: Sequence[Stage], size: Size,
                   tokenizer: Callable[[Sequence[str]], torch.Tensor], out_dir: Path) -> Dict[str, Dict[str, object]]:
    """Pack ``runs`` into ``out_dir`` with the manifest that records their recipes."""
    current = recipes(stages, size)
    manifest: Dict[str, Dict[str, object]] = {}
    for run in runs:
        name = pack(run, tokenizer, out_dir)
        manifest[run.stage.name] = {'file': name, 'recipe': current[run.stage.name], 'seconds': round(run.seconds, 1)}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + '\n')
    return manifest

