"""Models named the open_clip way, ``hf-hub:org/name`` or ``local-dir:FOLDER``: a folder holding
``open_clip_config.json`` (architecture and preprocessing) and the weights, on the Hugging Face hub
or on disk.

Hub files are taken from the local cache first. Otherwise, before huggingface_hub is asked (whose
retries take about a minute to give up without a network), the hub is probed for a few seconds, so
an offline machine gets a clear error at once, naming the model and what to do.
"""
from __future__ import annotations

import functools
import json
import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence
from urllib.parse import urlparse

import open_clip

from ...errors import CheckpointError, ConfigError

HUB_PREFIX = 'hf-hub:'
LOCAL_DIR_PREFIX = 'local-dir:'
CONFIG_FILE = 'open_clip_config.json'
#: open_clip's weight file names in a hub folder, in the order it prefers them.
WEIGHT_FILES = ('open_clip_model.safetensors', 'open_clip_pytorch_model.bin')
#: Seconds the hub may take to accept a connection before it counts as unreachable.
PROBE_SECONDS = 3.0


def is_folder_model(name: Optional[str]) -> bool:
    """Whether ``name`` is an ``hf-hub:`` or ``local-dir:`` model rather than an architecture name."""
    return isinstance(name, str) and name.startswith((HUB_PREFIX, LOCAL_DIR_PREFIX))


def _offline() -> bool:
    return os.environ.get('HF_HUB_OFFLINE', '').strip().lower() in ('1', 'true', 'yes', 'on')


def _advice(repo: str) -> str:
    return (f'Download it on a machine with internet (git clone https://huggingface.co/{repo}, or '
            f'huggingface-cli download {repo}) and pass local-dir:FOLDER instead of hf-hub:{repo}; a model already '
            f'in the Hugging Face cache is used as it is (HF_HUB_OFFLINE=1 skips the network entirely).')


def _reachable(endpoint: str, seconds: float) -> bool:
    """Whether a TCP connection to the hub opens within ``seconds`` (name lookup included, in a thread:
    a resolver without a network can block far longer than any socket timeout)."""
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == 'https' else 80)
    opened: List[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((url.hostname or '', port), timeout=seconds):
                opened.append(True)
        except OSError:
            pass

    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(seconds)
    return bool(opened)


def hub_file(repo: str, filenames: Sequence[str], what: str) -> str:
    """The local path of the first of ``filenames`` in hub repository ``repo``: cached, else downloaded."""
    from huggingface_hub import constants, hf_hub_download

    for filename in filenames:
        try:
            return hf_hub_download(repo, filename, local_files_only=True)
        except Exception:  # not cached (huggingface_hub's error types vary across versions)
            continue
    if _offline():
        raise CheckpointError(f'{what} hf-hub:{repo}: not in the local Hugging Face cache, and HF_HUB_OFFLINE is '
                              f'set, so nothing is downloaded. {_advice(repo)}')
    endpoint = os.environ.get('HF_ENDPOINT') or constants.ENDPOINT
    if not _reachable(endpoint, PROBE_SECONDS):
        raise CheckpointError(f'{what} hf-hub:{repo}: not in the local Hugging Face cache, and the hub ({endpoint}) '
                              f'cannot be reached from this machine (no connection within {PROBE_SECONDS:g} s). '
                              f'{_advice(repo)}')
    failures = []
    for filename in filenames:
        try:
            return hf_hub_download(repo, filename)
        except Exception as err:  # a missing file, repository or permission: say which
            failures.append(f'{filename}: {type(err).__name__}')
    raise CheckpointError(f'{what} hf-hub:{repo}: could not be downloaded ({"; ".join(failures)}). Check the '
                          f'repository name (https://huggingface.co/{repo}) and that it is an open_clip model '
                          f'({CONFIG_FILE} and {" or ".join(WEIGHT_FILES)}); a private one needs `huggingface-cli '
                          f'login`.')


@dataclass
class FolderModel:
    """An ``hf-hub:`` / ``local-dir:`` model resolved to files: the open_clip architecture its config
    builds, its weight file and pixel normalisation."""

    name: str
    arch: str
    weights: str
    mean: Optional[List[float]]
    std: Optional[List[float]]

    def encoder_config(self) -> Dict[str, Any]:
        """The OpenCLIPEncoder config of this model."""
        return dict(type='OpenCLIPEncoder', arch=self.arch, pretrained=self.weights, mean=self.mean, std=self.std)


@functools.lru_cache(maxsize=None)
def _config_dir() -> Path:
    """Where this process registers the open_clip configs of models that match no built-in architecture
    (open_clip rereads its config files whenever one is added, so they live as long as the process)."""
    return Path(tempfile.mkdtemp(prefix='mmtard-open_clip-configs-'))


def _architecture(model_cfg: Dict[str, Any], name: str) -> str:
    """The built-in open_clip architecture whose config is ``model_cfg``, else ``model_cfg`` registered
    with open_clip under a name made from ``name``."""
    for arch in open_clip.list_models():
        if open_clip.get_model_config(arch) == model_cfg:
            return arch
    if not all(key in model_cfg for key in ('embed_dim', 'vision_cfg', 'text_cfg')):
        raise ConfigError(f'{name}: its {CONFIG_FILE} has no CLIP model_cfg (embed_dim, vision_cfg, text_cfg), so '
                          f'open_clip cannot build it.')
    where = name.split(':', 1)[1]
    arch = (f'hf-hub-{where.replace("/", "--")}' if name.startswith(HUB_PREFIX)
            else f'local-dir-{Path(where).expanduser().resolve().name}')
    path = _config_dir() / f'{arch}.json'
    path.write_text(json.dumps(model_cfg))
    open_clip.add_model_config(path)
    return arch


def resolve_folder_model(name: str) -> FolderModel:
    """``hf-hub:org/name`` or ``local-dir:FOLDER`` as the files open_clip would load for it."""
    if name.startswith(HUB_PREFIX):
        repo = name[len(HUB_PREFIX):]
        config_file = hub_file(repo, [CONFIG_FILE], 'The model')
        weights = hub_file(repo, WEIGHT_FILES, 'The weights of')
    else:
        folder = Path(name[len(LOCAL_DIR_PREFIX):]).expanduser()
        config_file = str(folder / CONFIG_FILE)
        if not Path(config_file).is_file():
            raise ConfigError(f'--model {name!r}: {config_file} does not exist. A local-dir: model is a folder in '
                              f'open_clip\'s hub layout ({CONFIG_FILE} + {" or ".join(WEIGHT_FILES)}), e.g. a clone '
                              f'of a hub repository or the output of `mmtard export --format hf-hub`.')
        found = next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)
        if found is None:
            raise CheckpointError(f'--model {name!r}: the folder holds {CONFIG_FILE} but no weights '
                                  f'({" or ".join(WEIGHT_FILES)}); a git clone without git-lfs leaves them out.')
        weights = str(found)
    try:
        config = json.loads(Path(config_file).read_text(encoding='utf-8'))
    except ValueError as err:
        raise ConfigError(f'{name}: {config_file} is not valid JSON ({err}).') from None
    model_cfg = config.get('model_cfg', config)
    preprocess = config.get('preprocess_cfg', {})
    return FolderModel(name, _architecture(model_cfg, name), weights, preprocess.get('mean'), preprocess.get('std'))
