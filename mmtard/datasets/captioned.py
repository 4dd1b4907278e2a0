"""Captions for any classification dataset, so labelled images can train a CLIP contrastively."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
from torch.utils.data import Dataset

from ..registry import DATASETS
from .templates import get_templates


@DATASETS.register_module()
class ClassCaptions(Dataset):
    """Wrap a classification dataset; each item gains ``caption`` = a template filled with its class name.

    The template of item i is fixed by (seed, i), so captions are reproducible and epochs see the
    same text. ``templates`` defaults to the wrapped dataset's own.
    """

    def __init__(self, dataset: Union[dict, Dataset], templates: Optional[Union[str, Sequence[str]]] = None,
                 seed: int = 0) -> None:
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.classnames = list(self.dataset.classnames)
        self.templates = get_templates(templates) if templates is not None else list(self.dataset.templates)
        self._choice = np.random.default_rng(seed).integers(0, len(self.templates), size=len(self.dataset))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        item = dict(self.dataset[index])
        if 'caption' not in item:
            template = self.templates[int(self._choice[index])]
            item['caption'] = template.replace('{}', self.classnames[item['label']])
        return item


@DATASETS.register_module()
class ConcatCaptions(Dataset):
    """Several captioned datasets as one, for contrastive pretraining on more than one domain.

    Labels are offset so that they index the concatenated ``classnames``; ``templates`` are the
    first dataset's (zero-shot heads over the union are rarely what you want: validate per dataset).
    """

    def __init__(self, datasets: Sequence[Union[dict, Dataset]]) -> None:
        self.datasets = [DATASETS.build(d) if isinstance(d, dict) else d for d in datasets]
        self.offsets = np.cumsum([0] + [len(d) for d in self.datasets])
        self.label_offsets = np.cumsum([0] + [len(d.classnames) for d in self.datasets])
        self.classnames = [name for d in self.datasets for name in d.classnames]
        self.templates = list(self.datasets[0].templates)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> Dict[str, Any]:
        which = int(np.searchsorted(self.offsets, index, side='right') - 1)
        item = dict(self.datasets[which][index - int(self.offsets[which])])
        item['label'] = item['label'] + int(self.label_offsets[which])
        item['index'] = int(index)
        return item
