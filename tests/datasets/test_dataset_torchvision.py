import struct

import numpy as np
import pytest

from mmtard.datasets import TorchvisionDataset
from mmtard.errors import ConfigError, DatasetNotFoundError


def write_fake_mnist(root, n=12):
    """torchvision's MNIST raw layout (idx files), tiny: MNIST is the one torchvision dataset whose
    presence check needs no checksum, so the success path can be tested offline."""
    raw = root / 'MNIST' / 'raw'
    raw.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for prefix in ('train', 't10k'):
        (raw / f'{prefix}-images-idx3-ubyte').write_bytes(struct.pack('>IIII', 0x803, n, 28, 28) + images.tobytes())
        (raw / f'{prefix}-labels-idx1-ubyte').write_bytes(struct.pack('>II', 0x801, n) + labels.tobytes())


def test_missing_files_name_path_and_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        TorchvisionDataset('CIFAR10', root=str(tmp_path / 'cifar'))
    message = str(err.value)
    assert str(tmp_path / 'cifar') in message and 'download=True' in message
    # the command that downloads it, as written (`mmtard eval` has no download flag, so none is named)
    assert f"torchvision.datasets.CIFAR10({str(tmp_path / 'cifar')!r}, train=False, download=True)" in message
    assert 'Pass download=True' not in message
    assert not (tmp_path / 'cifar').exists() or not any((tmp_path / 'cifar').iterdir())  # nothing downloaded


def test_unknown_name_and_split():
    with pytest.raises(ConfigError, match="Did you mean 'CIFAR100'"):
        TorchvisionDataset('CIFAR-100', root='/nonexistent')
    with pytest.raises(ConfigError, match='"train" and "test"'):
        TorchvisionDataset('CIFAR10', root='/nonexistent', split='val')


def test_wraps_torchvision_with_clip_names(tmp_path):
    write_fake_mnist(tmp_path)
    ds = TorchvisionDataset('MNIST', root=str(tmp_path), image_size=16)
    assert ds.classnames == [str(i) for i in range(10)] and ds.templates == ['a photo of the number: "{}".']
    item = ds[3]
    assert item['inputs'].shape == (3, 16, 16) and 0 <= item['inputs'].min() <= item['inputs'].max() <= 1
    assert (item['label'], item['index']) == (3, 3)
    sub = TorchvisionDataset('MNIST', root=str(tmp_path), image_size=8, max_samples=10, templates='simple')
    assert len(sub) == 10 and sorted(sub[i]['label'] for i in range(10)) == list(range(10))
    assert sub.templates == ['a photo of a {}.'] and sub.metainfo['name'] == 'MNIST'


def test_labels_are_exposed_for_class_balanced_evaluation_subsets(tmp_path):
    from mmtard.datasets.sampling import dataset_labels
    from mmtard.evaluation.benchmark import evaluation_subset

    write_fake_mnist(tmp_path, n=40)
    ds = TorchvisionDataset('MNIST', root=str(tmp_path), image_size=8, max_samples=30)
    labels = dataset_labels(ds)
    assert labels == [ds[i]['label'] for i in range(len(ds))]  # the wrapper's items, not torchvision's
    subset = evaluation_subset(len(ds), labels, 20, seed=0)
    assert np.bincount([labels[i] for i in subset], minlength=10).tolist() == [2] * 10
