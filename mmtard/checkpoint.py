"""Reading weight files and loading them exactly, with errors that name the offending keys.

Weight files come in many shapes (open_clip/OpenAI state dicts, vision-only FARE/TeCoA dicts,
HF ``.bin``/``.safetensors``, mmengine checkpoints written by mmtard's Runner). This module turns
any of them into a flat ``{key: tensor}`` dict and loads it *strictly*: a silently half-loaded
teacher would invalidate every robustness number computed with it.

torch >= 2.6 loads with ``weights_only=True``; mmengine checkpoints also pickle numpy scalars and
mmengine ``HistoryBuffer`` objects, so :func:`trusted_checkpoint_globals` allow-lists exactly those
(with a ``getattr`` restricted to HistoryBuffer's own methods) instead of disabling the check.
"""
from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import zipfile
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .errors import CheckpointError, error_detail

StateDict = Dict[str, torch.Tensor]

#: Top-level keys under which common checkpoint formats nest their state dict.
_NESTED_STATE_KEYS = ('state_dict', 'model', 'model_state_dict', 'vision_encoder_state_dict')
#: Prefixes mmtard's own wrappers add to every key of the encoder they hold (``FrozenTeacher.encoder``,
#: ``OpenCLIPEncoder.model``): weights saved from a wrapper load into a bare encoder once stripped.
WRAPPER_PREFIXES = ('encoder.', 'model.')
_SHOW_KEYS = 5
_TORCH_SUFFIXES = ('.pt', '.pth', '.bin', '.ckpt')
WEIGHT_SUFFIXES = (*_TORCH_SUFFIXES, '.safetensors')
#: Non-weight entries of OpenAI's TorchScript CLIP files.
_TORCHSCRIPT_EXTRAS = ('input_resolution', 'context_length', 'vocab_size')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as HistoryBuffer's pickle needs it, and nothing more."""
    from mmengine.logging import HistoryBuffer

    if obj is HistoryBuffer and not name.startswith('_') and callable(getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise CheckpointError(
        f'Refusing to unpickle getattr({obj!r}, {name!r}) from a checkpoint: only mmengine '
        f'HistoryBuffer methods are allowed. The file was not written by mmengine/mmtard, or was tampered with.')


@contextlib.contextmanager
def trusted_checkpoint_globals() -> Iterator[None]:
    """Allow-list, for ``torch.load(weights_only=True)``, the objects mmengine checkpoints pickle."""
    from mmengine.logging import HistoryBuffer

    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    allowed: list = [np.dtype, np.ndarray, HistoryBuffer, bytes, (_history_buffer_getattr, 'builtins.getattr')]
    for package in ('numpy.core', 'numpy._core'):  # the name depends on the numpy that wrote the file
        allowed += [(multiarray.scalar, f'{package}.multiarray.scalar'),
                    (multiarray._reconstruct, f'{package}.multiarray._reconstruct')]
    allowed.extend(type(np.dtype(code)) for code in 'bBhHiIlLqQefdg?')
    with torch.serialization.safe_globals(allowed):
        yield


def _is_torchscript(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith('constants.pkl') for name in archive.namelist())


def is_weight_file_path(value: Any) -> bool:
    """Whether a ``pretrained=`` value names a local file (a path, or a weight file's name) rather than
    an open_clip tag or an ``hf-hub:`` id: a missing one is then a file to restore, not a tag to fix."""
    return (isinstance(value, str) and not value.startswith('hf-hub:')
            and (os.sep in value or value.endswith(WEIGHT_SUFFIXES)))


def _refuse_text_file(path: str) -> None:
    """Say so when a file that failed to load as weights is text (a config, a README, a Git LFS pointer)."""
    with open(path, 'rb') as f:
        head = f.read(512)
    try:  # incremental: a character cut at byte 512 is not a decoding error
        text = codecs.getincrementaldecoder('utf-8')().decode(head).strip()
    except UnicodeDecodeError:
        return
    if not text or not all(char.isprintable() or char in '\t\n\r' for char in text):
        return
    first_line = text.splitlines()[0][:80]
    lfs = (' (a Git LFS pointer: fetch the file itself with `git lfs pull`)'
           if first_line.startswith('version https://git-lfs') else '')
    raise CheckpointError(f'{path!r} is a text file, not a torch file of weights: it begins {first_line!r}{lfs}. '
                          f'Point at the weight file (.pt, .pth, .bin, .safetensors) instead.')


#: How files often given by mistake begin, and what they are.
_OTHER_FILES = {b'\x89PNG': 'a PNG image', b'\xff\xd8\xff': 'a JPEG image', b'GIF8': 'a GIF image',
                b'\x1f\x8b': 'gzip-compressed data', b'%PDF': 'a PDF document'}


def _refuse_other_binary(path: str) -> None:
    """Say so when a file that failed to load as weights is not a torch file at all: torch writes a zip
    archive (or, before 1.6, a pickle), so other first bytes mean another kind of file."""
    with open(path, 'rb') as f:
        head = f.read(8)
    if head.startswith((b'PK\x03\x04', b'\x80')):
        return
    kind = next((f' ({name})' for magic, name in _OTHER_FILES.items() if head.startswith(magic)), '')
    raise CheckpointError(f'{path!r} is not a torch file of weights: it begins with the bytes {head.hex(" ")}{kind}, '
                          f'where a torch file begins as a zip archive or a pickle. Point at the weight file '
                          f'(.pt, .pth, .bin, .safetensors) instead.')


def read_checkpoint(path: str) -> Any:
    """The deserialised content of a ``.pt/.pth/.bin/.ckpt`` or ``.safetensors`` file, on CPU."""
    if os.path.isdir(path):
        raise CheckpointError(f'Checkpoint {path!r} is a folder; point `pretrained=` at the weight file inside it.')
    if not os.path.isfile(path):
        raise CheckpointError(f'Checkpoint file {path!r} does not exist. Check the path in `pretrained=` '
                              f'(relative paths are resolved from {os.getcwd()!r}).')
    if os.path.getsize(path) == 0:
        raise CheckpointError(f'Checkpoint file {path!r} is empty (0 bytes): a failed download or copy. '
                              f'Fetch it again.')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file

        try:
            return load_file(path, device='cpu')
        except Exception as err:  # safetensors raises its own (Rust) error types
            _refuse_text_file(path)
            raise CheckpointError(f'Could not read safetensors file {path!r}: {err}') from err
    if _is_torchscript(path):  # how OpenAI distributes CLIP (e.g. ~/.cache/clip/ViT-B-32.pt)
        state = torch.jit.load(path, map_location='cpu').state_dict()
        return {k: v for k, v in state.items() if k not in _TORCHSCRIPT_EXTRAS}
    try:
        with trusted_checkpoint_globals():
            return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:
        _refuse_text_file(path)
        _refuse_other_binary(path)
        raise CheckpointError(
            f'Could not read checkpoint {path!r} with torch.load(weights_only=True) ({error_detail(err)}). '
            f'Either the file is truncated or not a torch file (fetch it again), or it pickles objects '
            f'other than tensors and plain containers: convert it to a state dict '
            f'(torch.save(model.state_dict(), ...)) or to .safetensors. Known suffixes: '
            f'{", ".join(_TORCH_SUFFIXES)}, .safetensors.') from None


def _top_prefixes(keys: Iterable[str]) -> list:
    return sorted({k.split('.', 1)[0] for k in keys})


def strip_prefixes(state: StateDict, prefixes: Sequence[str]) -> StateDict:
    """``state`` without any of ``prefixes`` that every key starts with, removed as long as one is
    common to all keys (DDP's ``module.``; the :data:`WRAPPER_PREFIXES` of mmtard's own wrappers)."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in prefixes:
            if state and all(k.startswith(prefix) for k in state):
                state, stripped = {k[len(prefix):]: v for k, v in state.items()}, True
    return state


def extract_state_dict(obj: Any, prefix: Optional[str] = None, source: str = 'checkpoint') -> StateDict:
    """The flat tensor dict inside a checkpoint, restricted to the sub-model ``prefix``.

    mmengine checkpoints (``{'state_dict': {'student.x': ...}, 'meta': ...}``) default to the
    ``student`` sub-model, the one mmtard trains; pass ``prefix='teacher'`` etc. for another.
    A DDP ``module.`` prefix is removed.
    """
    nested = False
    state = obj
    while isinstance(state, Mapping):
        key = next((k for k in _NESTED_STATE_KEYS if isinstance(state.get(k), Mapping)), None)
        if key is None:
            break
        state, nested = state[key], True
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f'{source} holds no state dict (found {type(obj).__name__}).')
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f'{source} holds no tensors; its top-level keys are {_top_prefixes(state)[:10]}.')
    tensors = strip_prefixes(tensors, ('module.',))
    if prefix is None and nested and any(k.startswith('student.') for k in tensors):
        prefix = 'student'
    if prefix is not None:
        head = prefix.rstrip('.') + '.'
        picked = {k[len(head):]: v for k, v in tensors.items() if k.startswith(head)}
        if not picked:
            raise CheckpointError(
                f'{source} has no weights under prefix {prefix!r}. Its top-level sub-models are '
                f'{_top_prefixes(tensors)[:10]}; pass one of them as `prefix=`.')
        tensors = picked
    return tensors


def load_state_dict_file(path: str, prefix: Optional[str] = None) -> StateDict:
    """:func:`read_checkpoint` + :func:`extract_state_dict`."""
    return extract_state_dict(read_checkpoint(path), prefix=prefix, source=f'Checkpoint {path!r}')


def _listing(keys: list) -> str:
    shown = ', '.join(keys[:_SHOW_KEYS])
    return shown + (f' (and {len(keys) - _SHOW_KEYS} more)' if len(keys) > _SHOW_KEYS else '')


def state_mismatch(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor],
                   may_be_missing: Callable[[str], bool] = lambda key: False) -> Optional[str]:
    """How ``state`` (a file's) differs from the ``expected`` state dict (a model's): the keys of wrong
    shape, missing and unexpected, and, when most of the model's weights are not in the file, what each
    side's keys look like (a ResNet's ``layer1``/``fc`` against a ViT's ``transformer``); None when it fits."""
    missing = [k for k in expected if k not in state and not may_be_missing(k)]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f'{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})'
                   for k in state if k in expected and state[k].shape != expected[k].shape]
    problems = [(label, keys) for label, keys in
                (('wrong shape', wrong_shape), ('missing', missing), ('unexpected', unexpected)) if keys]
    if not problems:
        return None
    details = '; '.join(f'{len(keys)} {label}: {_listing(keys)}' for label, keys in problems)
    fitting = sum(1 for k, v in expected.items() if k in state and state[k].shape == v.shape)
    if 2 * fitting < len(expected):
        details += f'. Only {fitting} of the model\'s {len(expected)} weights are in the file with their shape'
        file_only, model_only = [k for k in state if k not in expected], [k for k in expected if k not in state]
        common = _common_module_prefix([*file_only, *model_only])
        file_looks = _top_prefixes(k[len(common):] for k in file_only)
        model_looks = _top_prefixes(k[len(common):] for k in model_only)
        if file_looks and model_looks:
            details += (f': {f"under {common!r}, " if common else ""}the file\'s other keys start with '
                        f'{_listing(file_looks)}, the model\'s with {_listing(model_looks)}')
    return details


def _common_module_prefix(keys: Sequence[str]) -> str:
    """The dotted module path every key starts with ('student.model.' ...), or ''."""
    parts = [key.split('.')[:-1] for key in keys]
    common = []
    for level in zip(*parts):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return ''.join(f'{part}.' for part in common)


def load_exact(module: nn.Module, state: StateDict, source: str,
               may_be_missing: Callable[[str], bool] = lambda key: False, hint: str = '') -> None:
    """Load ``state`` into ``module``; every key must exist with the same shape.

    ``may_be_missing(key)`` lets a caller accept keys the file cannot contain (e.g. fresh LoRA
    adapters on top of base weights). Any other mismatch raises :class:`CheckpointError` naming the
    first few offending keys.
    """
    expected = module.state_dict()
    details = state_mismatch(state, expected, may_be_missing)
    if details is not None:
        raise CheckpointError(
            f'{source} does not fit {module.__class__.__name__}: {details}. The file was probably saved '
            f'from another architecture or configuration.{" " + hint if hint else ""}')
    with torch.no_grad():
        module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=False)


def tensors_checksum(named_tensors: Iterable[Tuple[str, torch.Tensor]]) -> str:
    """sha256 over names, dtypes, shapes and bytes of tensors (order-sensitive)."""
    digest = hashlib.sha256()
    for name, tensor in named_tensors:
        data = tensor.detach().to('cpu').contiguous().reshape(-1)
        digest.update(f'{name}:{data.dtype}:{tuple(tensor.shape)};'.encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
