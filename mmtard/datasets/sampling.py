"""Deterministic, class-balanced subsets: evaluation protocols use a fixed number of samples
(e.g. 5000 ImageNet val images, 1000 per zero-shot dataset), and every run must pick the same ones."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np


def balanced_subset(labels: Sequence[int], max_samples: Optional[int], seed: int = 0) -> List[int]:
    """Sorted indices of at most ``max_samples`` items, spread over the classes as evenly as the
    class sizes allow, chosen under ``seed``; all indices when ``max_samples`` is None or too large."""
    labels = np.asarray(labels, dtype=np.int64)
    if max_samples is None or max_samples >= len(labels):
        return list(range(len(labels)))
    if max_samples < 0:
        raise ValueError(f'max_samples must be >= 0, got {max_samples}.')
    order = np.random.default_rng(seed).permutation(len(labels))
    # Rank of each item within its own class, in the shuffled order: taking items by increasing
    # rank takes one of every class before a second of any (round robin).
    shuffled = labels[order]
    by_class = np.argsort(shuffled, kind='stable')
    starts = np.searchsorted(shuffled[by_class], shuffled[by_class], side='left')
    rank = np.empty(len(labels), dtype=np.int64)
    rank[by_class] = np.arange(len(labels)) - starts
    chosen = order[np.lexsort((np.arange(len(labels)), rank))[:max_samples]]
    return sorted(int(i) for i in chosen)


def dataset_labels(dataset: Any) -> Optional[List[int]]:
    """Every item's label without loading an image, where the dataset keeps them (torchvision's as
    ``targets``, ``labels`` or ``_labels``, mmtard's as ``targets``); None otherwise."""
    for attr in ('targets', 'labels', '_labels'):
        labels = getattr(dataset, attr, None)
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if len(labels) == len(dataset):
                return [int(x) for x in labels]
    return None
