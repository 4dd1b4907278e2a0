"""Fixed augmented views: the same pixels whenever a view is drawn, so teacher outputs per view can be cached."""
import pytest
import torch
from torch.utils.data import default_collate

from mmtard.datasets import FixedViewsDataset, ShapesDataset
from mmtard.errors import ConfigError
from mmtard.registry import MODELS

TINY = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit')


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    return ShapesDataset(num_samples=16, cache_dir=str(tmp_path_factory.mktemp('shapes')))


def test_every_draw_is_one_of_the_images_fixed_views(shapes):
    views = FixedViewsDataset(shapes, views=3, seed=1)
    torch.manual_seed(0)
    seen = {}
    for _ in range(40):
        item = views[5]
        image, view = divmod(item['index'], 3)
        assert image == 5 and item['label'] == shapes[5]['label']
        assert item['inputs'].shape == shapes[5]['inputs'].shape
        assert 0 <= item['inputs'].min() <= item['inputs'].max() <= 1
        if view in seen:
            assert torch.equal(seen[view], item['inputs']), 'a view is the same pixels every time'
        seen[view] = item['inputs']
    assert sorted(seen) == [0, 1, 2]
    assert not torch.equal(seen[0], seen[1]) and not torch.equal(seen[0], shapes[5]['inputs'])
    other_seed = FixedViewsDataset(shapes, views=3, seed=2)
    assert not torch.equal(other_seed.view(shapes[5]['inputs'], 5, 0), seen[0])
    assert views.classnames == shapes.classnames and views.metainfo['views'] == 3


@pytest.mark.parametrize('options, message', [
    (dict(views=0), 'views=0 must be a whole number >= 1'),
    (dict(scale=(0.5, 1.5)), 'scale'),
    (dict(ratio=(2.0, 1.0)), 'ratio'),
])
def test_bad_view_settings_are_explained(shapes, options, message):
    with pytest.raises(ConfigError, match=message):
        FixedViewsDataset(shapes, **options)


def test_clean_teacher_runs_once_per_view_across_epochs(shapes):
    """Two epochs over single-view data: the second epoch runs no clean-teacher forward, same loss."""
    cfg = dict(type='MMTARD', student=TINY, attack=dict(type='PGD', eps=0, steps=1, step_size=1),
               teachers=[dict(name='clean', encoder=TINY, teacher_input='clean'),
                         dict(name='robust', encoder=TINY, teacher_input='adv')])
    models = []
    for cached in (True, False):
        torch.manual_seed(0)
        model = MODELS.build(dict(cfg, cache_clean_teacher_outputs=cached))
        model.set_classes(shapes.classnames, shapes.templates)
        models.append(model)
    forwards = []
    models[0].teachers['clean'].register_forward_hook(lambda m, args, out: forwards.append(len(args[0])))
    data = FixedViewsDataset(shapes, views=1)
    for epoch in range(2):
        batch = default_collate([data[i] for i in torch.randperm(len(data)).tolist()])
        cached = models[0].loss(batch['inputs'], batch['label'], batch['index'])
        plain = models[1].loss(batch['inputs'], batch['label'], None)
        torch.testing.assert_close(cached['loss'], plain['loss'], rtol=1e-5, atol=1e-6)
        assert forwards == [len(data)], f'epoch {epoch}: the clean teacher ran on new views only'
