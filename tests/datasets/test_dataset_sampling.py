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
