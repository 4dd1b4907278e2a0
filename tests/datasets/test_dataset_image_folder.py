import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmtard.datasets import ImageFolderDataset
from mmtard.errors import ConfigError, DatasetNotFoundError, DatasetReadError
from mmtard.registry import DATASETS


def write_folders(root, counts, size=(40, 30)):
    rng = np.random.default_rng(0)
    for folder, n in counts.items():
        (root / folder).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / folder / f'{i}.png')
    return root


def test_items_labels_and_names(tmp_path):
    write_folders(tmp_path / 'val', {'golden_retriever': 2, 'cat': 3})
    (tmp_path / 'val' / 'cat' / 'notes.txt').write_text('not an image')
    ds = ImageFolderDataset(str(tmp_path), split='val', image_size=16, templates='simple')
    assert ds.classnames == ['cat', 'golden retriever']  # sorted folders, underscores as spaces
    assert ds.templates == ['a photo of a {}.']
    assert len(ds) == 5 and ds.targets == [0, 0, 0, 1, 1]
    item = ds[4]
    assert set(item) == {'inputs', 'label', 'index'}
    assert item['inputs'].shape == (3, 16, 16) and item['inputs'].dtype == torch.float32
    assert 0.0 <= item['inputs'].min() and item['inputs'].max() <= 1.0
    assert (item['label'], item['index']) == (1, 4)
    assert ds.metainfo['classes'] == ('cat', 'golden retriever')


def test_classnames_from_json_and_list(tmp_path):
    write_folders(tmp_path, {'a': 1, 'b': 1})
    (tmp_path.parent / 'names.json').write_text(json.dumps({'a': 'apple', 'b': 'banana'}))
    assert ImageFolderDataset(str(tmp_path), classnames=str(tmp_path.parent / 'names.json')).classnames == [
        'apple', 'banana']
    (tmp_path.parent / 'list.json').write_text(json.dumps(['B', 'A']))  # the folder names: matched by name
    assert ImageFolderDataset(str(tmp_path), classnames=str(tmp_path.parent / 'list.json')).classnames == ['A', 'B']
    assert ImageFolderDataset(str(tmp_path), classnames={'b': 'banana', 'a': 'apple'}).classnames == ['apple', 'banana']
    with pytest.raises(ConfigError, match='2 classes'):
        ImageFolderDataset(str(tmp_path), classnames=['only one'])
    (tmp_path.parent / 'partial.json').write_text(json.dumps({'a': 'apple'}))
    with pytest.raises(ConfigError, match="'b'"):
        ImageFolderDataset(str(tmp_path), classnames=str(tmp_path.parent / 'partial.json'))


def test_malformed_class_name_json_and_unreadable_images_are_named(tmp_path):
    write_folders(tmp_path, {'a': 1, 'b': 1})
    (tmp_path.parent / 'bad.json').write_text('["apple", "banana",]')
    with pytest.raises(ConfigError, match='bad.json is not valid JSON'):
        ImageFolderDataset(str(tmp_path), classnames=str(tmp_path.parent / 'bad.json'))
    (tmp_path / 'b' / '0.png').write_bytes(b'not a png')
    ds = ImageFolderDataset(str(tmp_path), image_size=8)
    with pytest.raises(DatasetReadError, match=r"0\.png' cannot be read"):
        ds[1]


def test_wnid_folders_get_imagenet_names(tmp_path):
    write_folders(tmp_path, {'n01443537': 1, 'n01440764': 1})
    ds = ImageFolderDataset(str(tmp_path))
    assert ds.classnames == ['tench', 'goldfish']
    assert len(ds.templates) == 80


def test_missing_or_empty_root_names_the_path(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / 'nowhere' / 'val')) as err:
        ImageFolderDataset(str(tmp_path / 'nowhere'), split='val')
    assert '<class_name>' in str(err.value) and '\n' not in str(err.value)
    (tmp_path / 'empty' / 'cls').mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match='no images'):
        ImageFolderDataset(str(tmp_path / 'empty'))


def test_max_samples_is_balanced_and_seeded(tmp_path):
    write_folders(tmp_path, {'a': 6, 'b': 6, 'c': 2}, size=(8, 8))
    ds = ImageFolderDataset(str(tmp_path), max_samples=6, sample_seed=1)
    assert len(ds) == 6 and np.bincount(ds.targets).tolist() == [2, 2, 2]
    assert ds.sample_indices == ImageFolderDataset(str(tmp_path), max_samples=6, sample_seed=1).sample_indices
    assert ds.samples[0][0].endswith('.png')


def test_registered_and_buildable(tmp_path):
    write_folders(tmp_path, {'a': 1}, size=(8, 8))
    ds = DATASETS.build(dict(type='ImageFolderDataset', root=str(tmp_path), image_size=8))
    assert isinstance(ds, ImageFolderDataset) and ds[0]['inputs'].shape == (3, 8, 8)


def test_image_list_selects_the_named_images_in_its_order(tmp_path):
    """As RobustBench's imagenet_test_image_ids.txt fixes the 5000 ImageNet val images."""
    write_folders(tmp_path / 'val', {'n01440764': 3, 'n01443537': 2})
    ids = tmp_path / 'ids.txt'
    ids.write_text('n01443537/1.png\nn01440764/0.png\n\nn01440764/2.png\n')
    ds = ImageFolderDataset(str(tmp_path), split='val', image_size=8, image_list=str(ids))
    assert [Path(f).relative_to(tmp_path / 'val').as_posix() for f, _ in ds.samples] == [
        'n01443537/1.png', 'n01440764/0.png', 'n01440764/2.png']
    assert ds.targets == [1, 0, 0] and ds.classnames[0] == 'tench'
    assert len(ImageFolderDataset(str(tmp_path), split='val', image_size=8, image_list=str(ids), max_samples=2)) == 2
    ids.write_text('n01440764/0.png\nn01440764/9.png\n')
    with pytest.raises(DatasetNotFoundError, match=r"names 1 of its 2 images.*'n01440764/9.png'"):
        ImageFolderDataset(str(tmp_path), split='val', image_list=str(ids))
    with pytest.raises(ConfigError, match='is not a file'):
        ImageFolderDataset(str(tmp_path), split='val', image_list=str(tmp_path / 'none.txt'))


def test_a_class_list_in_label_order_is_refused_where_the_sorted_folders_differ(tmp_path):
    """A newcomer's folders 'cat', 'airplane', ... with CIFAR-style names in label order: matched by
    position to the sorted folders, 9 of 10 would be named wrong. Refused, and a mapping fixes it."""
    folders = {name: 1 for name in ('lorry', 'kitty', 'plane', 'boat')}
    write_folders(tmp_path, folders, size=(8, 8))
    assert sorted(folders) == ['boat', 'kitty', 'lorry', 'plane']  # label order of the folder dataset
    with pytest.raises(ConfigError) as err:
        ImageFolderDataset(str(tmp_path), image_size=8, classnames=['truck', 'cat', 'airplane', 'ship'])  # label order
    message = str(err.value)
    assert 'plain list' in message and "'boat'" in message and '"boat": "..."' in message
    mapping = tmp_path.parent / 'names.json'
    mapping.write_text(json.dumps({'lorry': 'truck', 'kitty': 'cat', 'plane': 'airplane', 'boat': 'ship'}))
    ds = ImageFolderDataset(str(tmp_path), image_size=8, classnames=str(mapping))
    assert ds.classnames == ['ship', 'cat', 'truck', 'airplane']  # boat, kitty, lorry, plane
    assert [ds.classnames[label] for label in ds.targets] == ['ship', 'cat', 'truck', 'airplane']


def test_a_class_list_is_taken_where_its_order_is_provable(tmp_path):
    names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck', 'x', 'y']
    write_folders(tmp_path / 'digits', {str(i): 1 for i in range(12)}, size=(8, 8))  # sorted: 0, 1, 10, 11, 2, ...
    ds = ImageFolderDataset(str(tmp_path / 'digits'), image_size=8, classnames=names)
    assert ds.folders[:4] == ['0', '1', '10', '11']
    assert ds.classnames[:4] == ['airplane', 'automobile', 'x', 'y']  # folder 10 is label-order name 10
    write_folders(tmp_path / 'named', {'Golden_Retriever': 1, 'cat': 1}, size=(8, 8))
    assert ImageFolderDataset(str(tmp_path / 'named'), image_size=8,
                              classnames=['cat', 'golden retriever']).classnames == ['golden retriever', 'cat']
