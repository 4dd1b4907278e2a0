"""Published robust CLIP checkpoints by name (``mmtard eval --model fare4-vit-b-32-laion2b``), with the
accuracies their authors report, for tables that put a model beside them (`mmtard results table --zoo`).

The list is ``zoo.json`` (package data; docs/zoo.md says where every number is from). Those numbers
are quoted from the papers' repositories, never measured by mmtard, and tables mark them so. A
checkpoint on the Hugging Face hub loads as ``hf-hub:`` does; one published as a file download
(RobustVLM's vision-only ViT-L/14 and ViT-B/32 files) loads from that file once downloaded.
Reading the list needs no torch, so the command line resolves names before it loads models.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .errors import ConfigError, did_you_mean

ZOO_FILE = Path(__file__).resolve().parent / 'zoo.json'


@dataclass
class ZooModel:
    """One published checkpoint: how open_clip builds it and what its authors report.

    ``arch`` / ``base``: the open_clip architecture and the weight tag it was fine-tuned from (whose
    text tower a vision-only file pairs with); ``quick_gelu``: OpenAI-derived weights need it;
    ``hub``: its ``hf-hub:`` id, if any; ``url``: its file download, if any; ``reported``: the
    source, what was averaged, and clean and robust accuracy (%) per eps (1/255, Linf).
    """

    name: str
    method: str
    train_eps: float
    arch: str
    base: str
    quick_gelu: bool
    reported: Dict[str, Any]
    hub: Optional[str] = None
    url: Optional[str] = None

    def encoder_config(self, weights_file: Optional[str]) -> Dict[str, Any]:
        """The OpenCLIPEncoder config of this checkpoint's downloaded (vision-only) file."""
        return dict(type='OpenCLIPEncoder', arch=self.arch, pretrained=weights_file, text_pretrained=self.base,
                    quick_gelu=self.quick_gelu)


@functools.lru_cache(maxsize=None)
def zoo_models() -> Dict[str, ZooModel]:
    entries = json.loads(ZOO_FILE.read_text(encoding='utf-8'))['models']
    return {entry['name']: ZooModel(**entry) for entry in entries}


def zoo_model(name: str) -> ZooModel:
    models = zoo_models()
    if name not in models:
        raise ConfigError(f'{name!r} is not in the model zoo.{did_you_mean(name, list(models))} Its models: '
                          f'{", ".join(models)} (docs/zoo.md).')
    return models[name]


def is_zoo_name(name: Optional[str]) -> bool:
    return isinstance(name, str) and name in zoo_models()


def zoo_hub_model(name: Optional[str], pretrained: Optional[str]) -> Optional[str]:
    """The ``hf-hub:`` id a zoo ``--model`` loads from (not with ``--pretrained``: that file is used), else ``name``."""
    if is_zoo_name(name) and pretrained is None and zoo_models()[name].hub:
        return zoo_models()[name].hub
    return name


def zoo_weights_needed(model: ZooModel) -> ConfigError:
    """The error for a checkpoint published as a file download, saying how to get and pass it."""
    file = (model.url or '').rsplit('/', 1)[-1] or f'{model.name}.pt'
    return ConfigError(f'{model.name} is published as a file download, which mmtard does not fetch: download it '
                       f'(curl -L -o {file} {model.url}) and pass it with --model {model.name} --pretrained {file} '
                       f'(its text tower comes from open_clip {model.arch!r} {model.base!r}).')


def select(names: Sequence[str]) -> List[ZooModel]:
    """The zoo models ``names`` name ('all': every one), in the zoo's order; a name the zoo lacks is
    refused by that name, 'all' among others or not."""
    chosen = [zoo_model(name) for name in names if name != 'all']
    if 'all' in names:
        return list(zoo_models().values())
    return chosen
