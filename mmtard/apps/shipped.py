"""Weights of the chain's pretraining stages (chain seed 0) shipped inside the package, so the demo's
first run trains only its students; ``mmtard demo --from-scratch`` trains them again.

Each file is recorded in ``pretrained/manifest.json`` with the *recipe* that made it (see
:attr:`~mmtard.apps.chain.Run.recipe`). A shipped file is used only while the installed configs still
give the same recipe; after any change to them the stage is trained, with a note saying why. A file
holds the stage checkpoint's weights, except that the token embedding keeps only the rows of the
words the chain's texts use: every other row was never read in training and never is by the chain,
and dropping them shrinks a file from 15-90 MB to 1-4 MB (they come back as zeros).

The demo's evaluations of the shipped weights ship beside them (``<stage>.eval-<key>.json``, the
rows of ``results.json``), keyed by :func:`evaluation_key`: evaluating the teachers' wide base CLIP
takes minutes on a CPU, so a first run reads them instead (any other protocol evaluates them).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import open_clip
import torch

from ..atomic_files import torch_bytes, write_bytes_atomic
from ..checkpoint import read_checkpoint
from ..config import load_config
from ..datasets.shapes import ALL_CLASSES, TEMPLATES as SHAPE_TEMPLATES
from ..datasets.templates import get_class_names_and_templates
from ..engine.lean_checkpoint import TEACHERS_META_KEY
from ..evaluation.hashing import fingerprint
from ..models.encoders import open_clip_encoder  # noqa: F401  (registers mmtard's architectures with open_clip)

SHIPPED_DIR = Path(__file__).resolve().parent / 'pretrained'
MANIFEST = 'manifest.json'
TOKEN_KEY = 'student.model.token_embedding.weight'
#: Extra entries of a shipped file: which token rows it kept, and how many the full embedding has.
ROWS_KEY, VOCAB_KEY = '__token_rows__', '__token_vocab__'

Tokenizer = Callable[[Sequence[str]], torch.Tensor]


def chain_texts() -> List[str]:
    """Every text the chain's text towers read: shape captions and prompts (with and without 'small'
    / 'large') over all 64 colour-shape combinations, and MNIST's class prompts."""
    names = [f'{size}{name}' for name in ALL_CLASSES for size in ('', 'small ', 'large ')]
    digits, templates = get_class_names_and_templates('mnist')
    return [t.format(name) for t in SHAPE_TEMPLATES for name in names] + [t.format(d) for t in templates for d in digits]


def used_token_rows(tokenize: Tokenizer, texts: Iterable[str]) -> torch.Tensor:
    """The token ids (padding, start and end included) that ``texts`` use, sorted."""
    return torch.unique(tokenize(list(texts)).flatten())


def pack(checkpoint: Path, rows: torch.Tensor, target: Path) -> None:
    """Write ``checkpoint``'s weights to ``target`` (safetensors), token embedding cut to ``rows``."""
    from safetensors.torch import save

    state = dict(read_checkpoint(str(checkpoint))['state_dict'])
    embedding = state[TOKEN_KEY]
    state.update({TOKEN_KEY: embedding[rows].clone(), ROWS_KEY: rows,
                  VOCAB_KEY: torch.tensor(embedding.shape[0])})
    write_bytes_atomic(target, save({key: value.contiguous() for key, value in state.items()}))


def unpack(file: Path, target: Path, left_out_teachers: Sequence[str] = (), config_text: Optional[str] = None) -> None:
    """A shipped file as a stage checkpoint (mmengine layout, weights only) at ``target``.

    ``left_out_teachers`` are the frozen teachers the stage's checkpoint left out (PMG-AFT's frozen
    original): recorded as a training checkpoint records them, so that loading rebuilds them from the
    config. Their weights' checksums are not recorded: nothing resumes a finished stage. ``config_text``:
    the stage's training config, recorded as `mmtard train` records it (``meta['cfg']``), so that
    `mmtard export` and `mmtard eval --pretrained` rebuild its student as from a trained stage."""
    from safetensors.torch import load_file

    state = load_file(str(file))
    rows, vocab, kept = state.pop(ROWS_KEY), int(state.pop(VOCAB_KEY)), state[TOKEN_KEY]
    full = kept.new_zeros((vocab, kept.shape[1]))
    full[rows] = kept
    state[TOKEN_KEY] = full
    left_out = {name: {'config': 'as the stage config builds it', 'weights_sha256': 'not recorded (shipped)'}
                for name in left_out_teachers}
    meta = {'shipped_from': file.name, TEACHERS_META_KEY: left_out, **({'cfg': config_text} if config_text else {})}
    target.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(target, torch_bytes({'meta': meta, 'state_dict': state}))


def manifest(directory: Path = SHIPPED_DIR) -> Dict[str, Dict[str, object]]:
    path = directory / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def shipped_file(stage_name: str, seed: int, size_name: str, recipe: str, log: Callable[[str], None],
                 directory: Optional[Path] = None) -> Optional[Dict[str, object]]:
    """The manifest entry (with its ``path``) of the shipped weights of this stage, chain seed and size
    if they were made by ``recipe``; a note in ``log`` when they were made by another one."""
    directory = directory or SHIPPED_DIR
    entry = manifest(directory).get(stage_name)
    if entry is None or (entry['chain_seed'], entry['size']) != (seed, size_name):
        return None
    if entry['recipe'] != recipe:
        log(f'[yellow]note[/] the package ships {stage_name} weights made by another recipe than the installed '
            f'configs give ({entry["recipe"]} vs {recipe}): training it.')
        return None
    return {**entry, 'path': directory / str(entry['file'])}


def evaluation_key(section: Mapping[str, Any]) -> str:
    """An ``evaluation`` section's fingerprint without its cache folders, which depend on the work dir
    and not on the results."""

    def without_caches(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: without_caches(v) for k, v in value.items() if k != 'cache_dir'}
        if isinstance(value, (list, tuple)):
            return [without_caches(v) for v in value]
        return value

    return fingerprint(without_caches(section))


def shipped_evaluation(stage_name: str, section: Mapping[str, Any],
                       directory: Optional[Path] = None) -> Optional[List[Dict[str, Any]]]:
    """The shipped result rows of the stage's shipped weights under ``section``, if they ship."""
    directory = directory or SHIPPED_DIR
    file = (manifest(directory).get(stage_name) or {}).get('evaluations', {}).get(evaluation_key(section))
    return json.loads((directory / file).read_text()) if file else None


def ship_evaluations(runs: Sequence[Any], section: Mapping[str, Any], out: Path) -> None:
    """Add the finished evaluations of ``runs`` under ``section`` to the package's files in ``out``."""
    entries = manifest(out)
    key = evaluation_key(section)
    for run in runs:
        name = f'{run.stage.name}.eval-{key}.json'
        write_bytes_atomic(out / name, run.evaluation_results(section).read_bytes())
        entries[run.stage.name].setdefault('evaluations', {})[key] = name
    (out / MANIFEST).write_text(json.dumps(entries, indent=2) + '\n')


def text_features(checkpoint: Path, arch: str) -> torch.Tensor:
    """The checkpoint's text features of every chain text."""
    state = read_checkpoint(str(checkpoint))['state_dict']
    model = open_clip.create_model(arch)
    model.load_state_dict({k[len('student.model.'):]: v for k, v in state.items() if k.startswith('student.model.')})
    with torch.no_grad():
        return model.encode_text(open_clip.get_tokenizer(arch)(chain_texts()))


def ship(runs: Sequence[Any], size_name: str, out: Path) -> Dict[str, Dict[str, object]]:
    """Pack ``runs`` (the chain's :class:`~mmtard.apps.chain.Run` of size ``size_name``) into ``out`` with
    their manifest; fail if a packed file embeds any chain text differently."""
    out.mkdir(parents=True, exist_ok=True)
    archs = {run.stage.name: load_config(run.config).model.student.arch for run in runs}
    # one tokenizer's ids for all: the check below fails if another arch's tokenizer used other ids
    rows = used_token_rows(open_clip.get_tokenizer(next(iter(archs.values()))), chain_texts())
    entries: Dict[str, Dict[str, object]] = {}
    for run in runs:
        name = f'{run.stage.name}.safetensors'
        pack(run.checkpoint, rows, out / name)
        check = out / f'.{run.stage.name}.check.pth'
        unpack(out / name, check)
        arch = archs[run.stage.name]
        same = torch.equal(text_features(check, arch), text_features(run.checkpoint, arch))
        check.unlink()
        if not same:
            raise RuntimeError(f'{run.stage.name}: the packed weights embed the chain texts differently')
        left_out = (read_checkpoint(str(run.checkpoint)).get('meta') or {}).get(TEACHERS_META_KEY) or {}
        entries[run.stage.name] = {'file': name, 'recipe': run.recipe, 'chain_seed': run.seed, 'size': size_name,
                                   'left_out_teachers': sorted(left_out)}
    (out / MANIFEST).write_text(json.dumps(entries, indent=2) + '\n')
    return entries
