"""Models named the open_clip way, ``hf-hub:org/name`` or ``local-dir:FOLDER``: a folder holding
``open_clip_config.json`` (architecture and preprocessing) and the weights, on the Hugging Face hub
(:mod:`mmtard.hub` fetches them) or on disk.
"""
from __future__ import annotations

import functools
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import open_clip

from ...errors import CheckpointError, ConfigError
from ...hub import CONFIG_FILE, HUB_PREFIX, LOCAL_DIR_PREFIX, WEIGHT_FILES, hub_file


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
