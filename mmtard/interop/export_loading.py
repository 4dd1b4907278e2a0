"""The Python lines that load an export with open_clip alone, written so that they work when pasted.

Plain open_clip (mmtard not imported) lacks two things an mmtard student may rely on. mmtard's own
architectures (``mmtard-tiny-vit``, folder models) exist only once mmtard is imported, so the export
writes such a model config beside the weights (``<out>.json``: the weights' path with ``.json``) and
the load line registers it with ``open_clip.add_model_config`` first; open_clip names an added
config after its file, so the architecture is then called ``<out stem>``. And an mmtard training
checkpoint is not a file open_clip's ``pretrained=`` reads, so a vision export's line names the CLIP
its text tower came from only when open_clip loads that.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Dict, Iterator

from ..atomic_files import remove_quietly, remove_stale_temporaries, write_bytes_atomic
from ..errors import ConfigError, RunDirectoryExistsError
from ..models.encoders import OpenCLIPEncoder

HUB_PREFIX = 'hf-hub:'


def open_clip_ships(arch: str) -> bool:
    """Whether open_clip itself ships ``arch``'s model config (not one mmtard or a plugin registered)."""
    import open_clip.factory

    return (Path(open_clip.factory.__file__).parent / 'model_configs' / f'{arch}.json').is_file()


def open_clip_model_cfg(encoder: OpenCLIPEncoder) -> Dict[str, Any]:
    """open_clip's model config of the student's architecture, with QuickGELU when it uses it."""
    import open_clip

    model_cfg = open_clip.get_model_config(encoder.arch)
    if encoder.quick_gelu:
        model_cfg['quick_gelu'] = True
    return model_cfg


def model_config_path(out: Path) -> Path:
    """Where the model config of an architecture open_clip lacks goes: beside the weights."""
    return out.with_suffix('.json')


def architecture_name(encoder: OpenCLIPEncoder, out: Path) -> str:
    """The name plain open_clip knows the exported architecture by (after :func:`register_line`)."""
    return encoder.arch if open_clip_ships(encoder.arch) else out.stem


def register_line(encoder: OpenCLIPEncoder, out: Path) -> str:
    """``open_clip.add_model_config('<out>.json'); `` for an architecture open_clip lacks, else nothing."""
    return '' if open_clip_ships(encoder.arch) else f'open_clip.add_model_config({str(model_config_path(out))!r}); '


@contextlib.contextmanager
def model_config_beside(encoder: OpenCLIPEncoder, out: Path) -> Iterator[None]:
    """Write ``<out>.json`` when open_clip lacks the architecture, then run the block that writes the
    weights; the config is removed if that block fails (an export is written whole or not at all).
    Refuses a config file that exists (export never overwrites) or a name that would replace one of
    open_clip's own architectures once registered."""
    if open_clip_ships(encoder.arch):
        yield
        return
    path = model_config_path(out)
    if path.exists() or path.is_symlink():
        raise RunDirectoryExistsError(
            f'{str(path)!r} already exists; an export of {encoder.arch!r}, an architecture open_clip does not ship, '
            f'writes its model config there. Remove it or choose another --out name.')
    if open_clip_ships(out.stem):
        raise ConfigError(f'--out {str(out)!r}: {out.stem!r} is an open_clip architecture, which the exported model '
                          f'config (registered by its file name) would replace. Choose another --out name.')
    remove_stale_temporaries(path)
    write_bytes_atomic(path, json.dumps(open_clip_model_cfg(encoder), indent=2).encode())
    try:
        yield
    except BaseException:
        remove_quietly(path)
        raise


def _is_full_clip(content: Any) -> bool:
    state = content.get('state_dict') if isinstance(content, dict) and 'state_dict' in content else content
    if not isinstance(state, dict) or not state:  # open_clip unwraps 'state_dict' once, then 'module.'
        return False
    keys = [key[len('module.'):] if key.startswith('module.') else key for key in map(str, state)]
    return any(k.startswith('visual.') for k in keys) and any(not k.startswith('visual.') for k in keys)


def open_clip_loadable(arch: str, source: Any) -> bool:
    """Whether ``open_clip.create_model(arch, pretrained=source)`` loads ``source`` without mmtard: a
    weight tag of ``arch`` or a file of a full CLIP state dict (not an mmtard training checkpoint, a
    vision-only file, wrapper-prefixed keys, or an hf-hub id, which open_clip takes as the model name)."""
    import open_clip

    if not isinstance(source, str) or not source or source.startswith(HUB_PREFIX):
        return False
    if open_clip.get_pretrained_cfg(arch, source):
        return True
    path = Path(source)
    if not path.is_file():
        return False
    try:
        if path.suffix == '.safetensors':
            from safetensors import safe_open

            with safe_open(str(path), 'pt') as handle:
                return _is_full_clip(dict.fromkeys(handle.keys()))
        import torch

        return _is_full_clip(torch.load(path, map_location='cpu', weights_only=True, mmap=True))
    except Exception:  # a file torch.load(weights_only=True) refuses, open_clip's load refuses too
        return False


def _create_call(encoder: OpenCLIPEncoder, out: Path, pretrained: Any = None) -> str:
    weights = f', pretrained={str(pretrained)!r}' if pretrained is not None else ''
    quick_gelu = ', force_quick_gelu=True' if encoder.quick_gelu else ''
    return f'open_clip.create_model({architecture_name(encoder, out)!r}{weights}{quick_gelu})'


def full_clip_line(encoder: OpenCLIPEncoder, out: Path) -> str:
    """The line that loads a full-CLIP export (``open_clip`` format) with open_clip alone."""
    return f'{register_line(encoder, out)}model = {_create_call(encoder, out, out)}'


def vision_line(encoder: OpenCLIPEncoder, out: Path, text_source: Any) -> str:
    """The line that builds the model with the text tower the student kept (its hf-hub repository, weight
    tag or file, when open_clip loads it) and loads the exported image tower; otherwise it says where a
    text tower comes from."""
    load = f'model.visual.load_state_dict(torch.load({str(out)!r}))'
    if isinstance(text_source, str) and text_source.startswith(HUB_PREFIX):  # the hub repository names its arch
        return f'model = open_clip.create_model({text_source!r}); {load}'
    if open_clip_loadable(encoder.arch, text_source):
        return f'{register_line(encoder, out)}model = {_create_call(encoder, out, text_source)}; {load}'
    origin = (f"came from {str(text_source)!r}, which plain open_clip cannot load" if text_source
              else 'was random')
    return (f'{register_line(encoder, out)}model = {_create_call(encoder, out)}; {load}  # the text tower here is '
            f"random (the student's {origin}): export --format open_clip for the full CLIP")
