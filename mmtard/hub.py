"""Files of open_clip models on the Hugging Face hub (``hf-hub:org/name``), fetched without torch.

Hub files are taken from the local cache first. Otherwise, before huggingface_hub is asked (whose
retries take about a minute to give up without a network), the hub is probed for a few seconds, so
an offline machine gets a clear error at once, naming the model and what to do. The command line
fetches a hub model's files before it imports torch, so that error comes within seconds.
"""
from __future__ import annotations

import os
import socket
import threading
from typing import List, Optional, Sequence
from urllib.parse import urlparse

from .errors import CheckpointError

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


def hub_file(repo: str, filenames: Sequence[str], what: str, advice: Optional[str] = None) -> str:
    """The local path of the first of ``filenames`` in hub repository ``repo``: cached, else downloaded;
    ``advice``: what to do when it cannot be had (default: fetch the repository, pass local-dir:)."""
    from huggingface_hub import constants, hf_hub_download

    advice = advice or _advice(repo)
    for filename in filenames:
        try:
            return hf_hub_download(repo, filename, local_files_only=True)
        except Exception:  # not cached (huggingface_hub's error types vary across versions)
            continue
    if _offline():
        raise CheckpointError(f'{what} hf-hub:{repo}: not in the local Hugging Face cache, and HF_HUB_OFFLINE is '
                              f'set, so nothing is downloaded. {advice}')
    endpoint = os.environ.get('HF_ENDPOINT') or constants.ENDPOINT
    if not _reachable(endpoint, PROBE_SECONDS):
        raise CheckpointError(f'{what} hf-hub:{repo}: not in the local Hugging Face cache, and the hub ({endpoint}) '
                              f'cannot be reached from this machine (no connection within {PROBE_SECONDS:g} s). '
                              f'{advice}')
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


def url_reachable(url: str) -> bool:
    """Whether ``url``'s host accepts a connection within :data:`PROBE_SECONDS` (False offline, at once
    when HF_HUB_OFFLINE is set)."""
    return not _offline() and _reachable(url, PROBE_SECONDS)


def prefetch_hub_files(model: Optional[str], pretrained: Optional[str]) -> None:
    """Fetch the hub files ``--model`` / ``--pretrained`` name (config and weights of an ``hf-hub:`` model,
    the weights alone of hub ``--pretrained`` for a named architecture) into the cache, or fail clearly."""
    if isinstance(model, str) and model.startswith(HUB_PREFIX):
        hub_file(model[len(HUB_PREFIX):], [CONFIG_FILE], 'The model')
        hub_file(model[len(HUB_PREFIX):], WEIGHT_FILES, 'The weights of')
    elif isinstance(pretrained, str) and pretrained.startswith(HUB_PREFIX):
        if model is None:
            hub_file(pretrained[len(HUB_PREFIX):], [CONFIG_FILE], 'The model')
        hub_file(pretrained[len(HUB_PREFIX):], WEIGHT_FILES, 'The weights')
