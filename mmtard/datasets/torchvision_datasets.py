"""torchvision's zero-shot benchmark datasets with CLIP's class names and templates, so the
field's standard evaluation sets need no loader code of their own."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch
import torchvision.datasets as tvd

from ..errors import ConfigError, DatasetNotFoundError, did_you_mean
from ..registry import DATASETS
from .base import ClassificationDataset
from .preprocess import resize_center_crop
from .sampling import balanced_subset, dataset_labels
from .templates import standard_class_text

#: Datasets whose torchvision class takes ``train: bool`` rather than ``split: str``.
_TRAIN_FLAG = ('CIFAR10', 'CIFAR100', 'MNIST', 'FashionMNIST')
_SPLIT_ARG = ('STL10', 'DTD', 'Flowers102', 'OxfordIIITPet', 'FGVCAircraft', 'Food101', 'StanfordCars',
              'Country211', 'PCAM', 'GTSRB')
SUPPORTED = _TRAIN_FLAG + _SPLIT_ARG


@DATASETS.register_module()
class TorchvisionDataset(ClassificationDataset):
    """A torchvision dataset (``name`` = its class name) resized to ``image_size``.

    Class names and templates are the standard zero-shot ones where bundled (CIFAR10/100, STL10,
    MNIST, Flowers102, OxfordIIITPet, PCAM; templates only, with torchvision's own class names, for
    StanfordCars, FGVCAircraft, DTD); otherwise ``classnames`` or the dataset's own ``classes`` and
    the 'simple' template. Nothing is downloaded unless ``download=True``.
    """

    def __init__(self, name: str, root: str, split: str = 'test', image_size: int = 224,
                 download: bool = False, max_samples: Optional[int] = None, sample_seed: int = 0,
                 classnames: Optional[List[str]] = None,
                 templates: Union[None, str, List[str]] = None) -> None:
        if name not in SUPPORTED:
            raise ConfigError(f'TorchvisionDataset does not support {name!r}.{did_you_mean(name, SUPPORTED)} '
                              f'Supported: {", ".join(SUPPORTED)}; use ImageFolderDataset for other data.')
        self.name = name
        self.root = Path(root).expanduser()
        self.image_size = image_size
        if name in _TRAIN_FLAG:
            if split not in ('train', 'test'):
                raise ConfigError(f'{name} has splits "train" and "test", not {split!r}.')
            kwargs: Dict[str, object] = {'train': split == 'train'}
        else:
            kwargs = {'split': split}
        try:
            self.dataset = getattr(tvd, name)(str(self.root), download=download, **kwargs)
        except (RuntimeError, FileNotFoundError) as err:
            if download:
                raise
            call = f"torchvision.datasets.{name}({str(self.root)!r}, {', '.join(f'{k}={v!r}' for k, v in kwargs.items())}, " \
                   f"download=True)"
            raise DatasetNotFoundError(
                f'{name} ({split} split) was not found or is incomplete under {self.root} (torchvision: '
                f'{err}). Nothing is downloaded by default: download it there once with python -c "import '
                f'torchvision; {call}" (or, in a config, add download=True to this TorchvisionDataset), or place '
                f'the files there yourself in torchvision\'s layout (for `mmtard eval --dataset NAME`, under '
                f'--data-root/NAME).') from None
        self.classnames, self.templates = standard_class_text(name, getattr(self.dataset, 'classes', None) or [],
                                                              classnames, templates)
        self._labels = dataset_labels(self.dataset)
        self.sample_indices = balanced_subset(self._labels or [0] * len(self.dataset),
                                              max_samples, sample_seed)

    def __len__(self) -> int:
        return len(self.sample_indices)

    @property
    def targets(self) -> Optional[List[int]]:
        """Labels of the items (None when torchvision keeps them unread), so evaluation subsets can be
        class-balanced without loading images."""
        return None if self._labels is None else [self._labels[i] for i in self.sample_indices]

    def load(self, index: int) -> Tuple[torch.Tensor, int]:
        image, label = self.dataset[self.sample_indices[index]]
        return resize_center_crop(image, self.image_size), int(label)

    @property
    def metainfo(self) -> Dict[str, object]:
        return {**super().metainfo, 'name': self.name, 'root': str(self.root)}
