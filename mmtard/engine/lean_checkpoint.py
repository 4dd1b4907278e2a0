"""Training checkpoints without the frozen teachers' weights.

A teacher never changes during training, so writing it into every checkpoint costs only disk and
time (two ViT-L-14 teachers: 1.7 GB of fp32 weights each, at every save). A checkpoint records each
:class:`FrozenTeacher` by identity instead: the encoder config it was built from and a sha256 of its
weights. Loading rebuilds the teachers from the run's config and refuses one whose weights differ
from the recorded checksum, since distilling on from another teacher would silently change the run.
Checkpoints that still hold teacher weights (written before this) load as they are.
"""
from __future__ import annotations

import contextlib
import json
from typing import Any, Collection, Dict, Iterator, Mapping, Optional

from torch import nn

from ..checkpoint import load_exact, state_mismatch
from ..errors import CheckpointError
from ..models.teacher import FrozenTeacher

#: Key in a checkpoint's ``meta`` under which the teachers' identities are recorded.
TEACHERS_META_KEY = 'frozen_teachers'


def frozen_teachers(model: nn.Module) -> Dict[str, FrozenTeacher]:
    """The model's frozen teachers by qualified name ('teachers.clean', 'original')."""
    return {name: module for name, module in model.named_modules() if isinstance(module, FrozenTeacher)}


def _plain(config: Any) -> Any:
    """A config as plain JSON values: checkpoints are read with ``weights_only=True``."""
    return json.loads(json.dumps(config, default=repr))


def teacher_identities(model: nn.Module) -> Dict[str, Dict[str, Any]]:
    """``{name: {'config': ..., 'weights_sha256': ...}}`` for every frozen teacher of ``model``."""
    return {name: {'config': _plain(teacher.config), 'weights_sha256': teacher.weights_checksum()}
            for name, teacher in frozen_teachers(model).items()}


def _drop_own_entries(module: nn.Module, state_dict: Dict[str, Any], prefix: str, local_metadata: Any) -> None:
    for key in [k for k in state_dict if k.startswith(prefix)]:
        del state_dict[key]


@contextlib.contextmanager
def leaving_out_frozen_teachers(model: nn.Module) -> Iterator[None]:
    """Within the block, ``model.state_dict()`` has no teacher tensors (none is copied either)."""
    handles = [teacher.register_state_dict_post_hook(_drop_own_entries)
               for teacher in frozen_teachers(model).values()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def check_teacher_identities(model: nn.Module, recorded: Mapping[str, Mapping[str, Any]], source: str,
                             names: Optional[Collection[str]] = None) -> None:
    """Refuse a model whose frozen teachers (those in ``names``; default all) are not the ones
    ``recorded`` in the checkpoint ``source``."""
    teachers = frozen_teachers(model)
    if set(recorded) != set(teachers):
        raise CheckpointError(
            f'{source} was written by a model with frozen teachers {sorted(recorded)}, but this config builds '
            f'{sorted(teachers)}. Load it with the config of the run that wrote it.')
    for name, teacher in teachers.items():
        if names is not None and name not in names:
            continue
        expected, actual = recorded[name]['weights_sha256'], teacher.weights_checksum()
        if actual != expected:
            random = isinstance(teacher.config, Mapping) and teacher.config.get('pretrained') in (None, False)
            cause = ('it names no weight file, and random weights match only when the model is built as the run '
                     'built it (same seed, before anything else draws random numbers)' if random else
                     'so its weight file changed since, or the config now names another one')
            raise CheckpointError(
                f'The frozen teacher {name!r} is not the one {source} was trained with: its weights now have '
                f'sha256 {actual[:12]}..., the checkpoint recorded {expected[:12]}... The teacher is rebuilt from '
                f'the config ({teacher.config!r}; when the checkpoint was written: {recorded[name]["config"]!r}), '
                f'{cause}. Restore the original teacher weights, or start a new run (another --work-dir, '
                f'without --resume) with these teachers.')


def load_training_state(model: nn.Module, checkpoint: Mapping[str, Any], source: str,
                        checked_teachers: Optional[Collection[str]] = None) -> None:
    """Load a training checkpoint's weights into ``model`` exactly; frozen teachers the checkpoint
    left out are checked against their recorded identity instead (those in ``checked_teachers``,
    default all: evaluating the student does not use them)."""
    recorded = (checkpoint.get('meta') or {}).get(TEACHERS_META_KEY)
    left_out = tuple(f'{name}.' for name in recorded or ())
    state = checkpoint.get('state_dict') or {}
    teachers = (*left_out, *(f'{name}.' for name in frozen_teachers(model)))
    check_trained_parts(model, state, checkpoint, source, teachers)
    if recorded is not None:
        check_teacher_identities(model, recorded, source, checked_teachers)
    load_exact(model, state, source, may_be_missing=lambda key: key.startswith(left_out),
               hint='To start a student from other weights, set model.student.pretrained=<file> instead.')


def _trained_student(checkpoint: Mapping[str, Any]) -> str:
    """A sentence naming the student the checkpoint's run trained, in short (type, arch, LoRA)."""
    from mmengine.config import Config

    try:
        student = Config.fromstring((checkpoint.get('meta') or {})['cfg'], file_format='.py').model.student
    except Exception:  # no or unparsable config text: an older or hand-made checkpoint
        return 'It records no training config.'
    shown = {key: student[key] for key in ('type', 'arch', 'lora', 'quick_gelu') if key in student}
    if isinstance(student.get('text_tower'), Mapping):
        shown['text_tower.arch'] = student['text_tower'].get('arch')
    return f'The run that wrote it trained the student {shown!r}.'


def check_trained_parts(model: nn.Module, state: Mapping[str, Any], checkpoint: Mapping[str, Any], source: str,
                        teachers: tuple) -> None:
    """Refuse a checkpoint whose trained parts (all but the ``teachers`` prefixes: the student above all)
    have other keys or shapes than the model's, before the teachers are checked: a changed student
    architecture changes the random draws that build random-weight teachers too, and their checksum
    would be blamed for it."""
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith(teachers)}
    mismatch = state_mismatch({k: v for k, v in state.items() if not k.startswith(teachers)}, expected)
    if mismatch is None:
        return
    differs = 'student architecture' if 'student.' in mismatch else 'model'
    raise CheckpointError(
        f'{source} does not fit the {differs} this config builds: {mismatch}. {_trained_student(checkpoint)} Use '
        f'the config and -o options of that run, or start a new run (another --work-dir, without --resume); to '
        f'start a student from these weights instead, set model.student.pretrained=<file>.')
