import numpy as np

from mmtard.datasets import balanced_subset


def test_balanced_deterministic_and_sorted():
    labels = [0] * 50 + [1] * 30 + [2] * 5
    chosen = balanced_subset(labels, 25, seed=3)
    assert chosen == balanced_subset(labels, 25, seed=3) == sorted(chosen)
    assert len(set(chosen)) == 25
    assert np.bincount(np.asarray(labels)[chosen]).tolist() == [10, 10, 5]  # small class taken whole
    assert balanced_subset(labels, 25, seed=4) != chosen


def test_everything_when_not_limited():
    assert balanced_subset([1, 0, 1], None) == [0, 1, 2]
    assert balanced_subset([1, 0, 1], 10) == [0, 1, 2]


class _Items:
    def __init__(self, n, **attrs):
        self.n = n
        self.__dict__.update(attrs)

    def __len__(self):
        return self.n


def test_dataset_labels_reads_the_first_attribute_that_labels_every_item():
    from mmtard.datasets.sampling import dataset_labels

    assert dataset_labels(_Items(3, targets=[2, 0, 1], _labels=[9, 9, 9])) == [2, 0, 1]
    assert dataset_labels(_Items(2, _labels=np.array([[1], [0]]))) == [1, 0]  # torchvision's own, flattened
    assert dataset_labels(_Items(3, targets=None, labels=[0, 1])) is None  # not one per item
    assert dataset_labels(_Items(3)) is None
