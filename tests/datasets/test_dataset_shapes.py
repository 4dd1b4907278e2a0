from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mmtard.datasets import ShapesDataset, shapes
from mmtard.errors import ConfigError


def test_held_out_combinations_constraints():
    assert len(shapes.HELD_OUT) == len(set(shapes.HELD_OUT)) == 13
    assert set(shapes.HELD_OUT) <= set(shapes.ALL_CLASSES) and len(shapes.ALL_CLASSES) == 64
    colours = Counter(name.split()[0] for name in shapes.HELD_OUT)
    kinds = Counter(name.split()[1] for name in shapes.HELD_OUT)
    assert max(colours.values()) <= 2 and max(kinds.values()) <= 2
    sel = shapes.CLASS_SELECTIONS
    assert (len(sel['seen']), len(sel['held_out']), len(sel['all'])) == (51, 13, 64)
    assert not set(sel['seen']) & set(sel['held_out'])


@pytest.mark.parametrize('classes', ['seen', 'held_out', 'all'])
def test_items_and_label_space(classes):
    ds = ShapesDataset(split='val', classes=classes, num_samples=130)
    assert ds.classnames == list(shapes.CLASS_SELECTIONS[classes])
    assert len(ds) == 130 and ds.metainfo['classes'] == tuple(ds.classnames)
    item = ds[5]
    assert set(item) == {'inputs', 'label', 'index'} and item['index'] == 5
    assert item['inputs'].shape == (3, 32, 32) and item['inputs'].dtype == torch.float32
    assert 0 <= item['inputs'].min() and item['inputs'].max() <= 1
    counts = np.bincount(ds.labels, minlength=len(ds.classnames))
    assert counts.max() - counts.min() <= 1  # balanced over the selection
    if classes == 'seen':
        assert not {ds.classnames[label] for label in ds.labels} & set(shapes.HELD_OUT)


def test_deterministic_under_seed_and_splits_differ():
    a = ShapesDataset(split='train', num_samples=40, seed=1, return_caption=True)
    b = ShapesDataset(split='train', num_samples=40, seed=1, return_caption=True)
    assert torch.equal(a._images, b._images) and (a.labels == b.labels).all() and a.captions == b.captions
    assert not torch.equal(a._images, ShapesDataset(split='train', num_samples=40, seed=2)._images)
    assert not torch.equal(a._images, ShapesDataset(split='test', num_samples=40, seed=1)._images)


def test_colours_are_recognisable():
    colour_ids = np.repeat(np.arange(8), 4)
    images = shapes.render_shapes(colour_ids, np.tile(np.arange(8), 4), 32, np.random.default_rng(0))['images']
    palette = np.asarray(list(shapes.COLOURS.values()))
    for image, colour in zip(images.reshape(32, -1, 3) / 255.0, colour_ids):
        brightest = image[np.argsort(image.sum(1))[-20:]].mean(0)  # pixels inside the shape
        assert np.argmin(((palette - brightest) ** 2).sum(1)) == colour


def test_image_size_scales():
    ds = ShapesDataset(split='test', num_samples=4, image_size=64)
    assert ds[0]['inputs'].shape == (3, 64, 64)


def test_cache_is_reused(tmp_path, monkeypatch):
    first = ShapesDataset(split='val', num_samples=20, cache_dir=str(tmp_path))
    assert first.cache_file(str(tmp_path)).is_file()

    def fail(*args, **kwargs):
        raise AssertionError('rendered again although cached')

    monkeypatch.setattr(shapes, 'render_shapes', fail)
    again = ShapesDataset(split='val', num_samples=20, cache_dir=str(tmp_path))
    assert torch.equal(first._images, again._images) and (first.labels == again.labels).all()
    with pytest.raises(AssertionError, match='rendered again'):  # other parameters, other file
        ShapesDataset(split='val', num_samples=21, cache_dir=str(tmp_path))


@pytest.mark.parametrize('damage', [b'', b'PK\x03\x04 cut short'])
def test_a_damaged_cache_file_is_rendered_again(tmp_path, damage):
    first = ShapesDataset(split='val', num_samples=20, cache_dir=str(tmp_path))
    first.cache_file(str(tmp_path)).write_bytes(damage)
    again = ShapesDataset(split='val', num_samples=20, cache_dir=str(tmp_path))
    assert torch.equal(first._images, again._images)
    with np.load(first.cache_file(str(tmp_path))) as repaired:  # and the cache is whole again
        assert repaired['images'].shape[0] == 20


def test_captions():
    ds = ShapesDataset(split='train', num_samples=200, return_caption=True)
    item = ds[0]
    assert item['caption'] == ds.captions[0] and ds.classnames[item['label']] in item['caption']
    assert any(' small ' in c for c in ds.captions) and any(' large ' in c for c in ds.captions)
    assert any(c == ds.templates[0].format(ds.classnames[label]) for c, label in zip(ds.captions, ds.labels))
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch['inputs'].shape == (4, 3, 32, 32) and len(batch['caption']) == 4
    assert 'caption' not in ShapesDataset(split='train', num_samples=2)[0]


def test_bad_arguments():
    with pytest.raises(ConfigError, match='held_out'):
        ShapesDataset(classes='unseen')
    with pytest.raises(ConfigError, match='val'):
        ShapesDataset(split='validation')


def test_held_out_images_scored_among_all_classes():
    held = ShapesDataset(split='test', classes='held_out', num_samples=26)
    among_all = ShapesDataset(split='test', classes='held_out', label_space='all', num_samples=26)
    assert len(among_all.classnames) == 64
    for i in range(len(held)):
        assert held.classnames[held[i]['label']] == among_all.classnames[among_all[i]['label']]
        assert torch.equal(held[i]['inputs'], among_all[i]['inputs'])


def test_label_space_must_contain_the_classes():
    with pytest.raises(ConfigError, match='label_space'):
        ShapesDataset(split='test', classes='all', label_space='seen', num_samples=4)
