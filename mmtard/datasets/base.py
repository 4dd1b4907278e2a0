"""What every classification dataset of mmtard shares: the item schema and the text side.

Zero-shot heads are built from ``classnames`` x ``templates``; keeping both on the dataset means a
config that swaps the data also swaps the label space, and nothing can get out of step.
"""
from __future__ import annotations

from typing import Any, Dict, List

import torch
from torch.utils.data import Dataset



class ClassificationDataset(Dataset):
    """Base class: items are ``{'inputs': float32 (3,H,W) in [0,1], 'label': int, 'index': int}``.

    Subclasses set ``classnames``, ``templates`` and ``image_size`` and implement ``__len__`` and
    ``load(index) -> (image tensor, label)``.
    """

    classnames: List[str]
    templates: List[str]
    image_size: int

    def load(self, index: int) -> tuple[torch.Tensor, int]:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f'index {index} out of range for {type(self).__name__} of length {len(self)}')
        index = int(index) % len(self)
        inputs, label = self.load(index)
        return {'inputs': inputs, 'label': int(label), 'index': index}

    @property
    def metainfo(self) -> Dict[str, Any]:
        """mmengine's convention: a fresh dict with at least ``classes``."""
        return {'classes': tuple(self.classnames), 'templates': tuple(self.templates),
                'image_size': self.image_size, 'dataset_type': type(self).__name__}
