"""`mmtard cache-teacher`: clean-teacher outputs of every fixed view computed once, loaded by training."""
import pytest
import torch
from click.testing import CliRunner

from mmtard.engine.teacher_cache_files import check_fixed_pixels
from mmtard.engine.teacher_cache_files import EverySample
from mmtard.cli.main import cli
from mmtard.datasets import FixedViewsDataset, ShapesDataset
from mmtard.models import teacher_cache
from mmtard.models.shared_rows import SharedRows
from mmtard.models.encoders import OpenCLIPEncoder
from mmtard.models.teacher import FrozenTeacher

from shared_inputs import FAST, TINY

VIEWS, IMAGES = 2, 16
#: The fast training settings, less the sample count of the (here wrapped) dataset.
RUN = [arg for pair in zip(FAST[::2], FAST[1::2]) if 'num_samples=64' not in pair[1] for arg in pair]


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    """The tiny config on two fixed views of 16 shapes, clean-teacher outputs cached, teachers from files."""
    folder = tmp_path_factory.mktemp('cache-teacher')
    for seed, name in enumerate(('clean', 'robust')):
        torch.manual_seed(20 + seed)
        torch.save(OpenCLIPEncoder('mmtard-tiny-vit').model.state_dict(), folder / f'{name}.pt')
    shapes = dict(type='ShapesDataset', split='train', classes='seen', num_samples=IMAGES,
                  cache_dir=str(folder / 'shapes'))
    teachers = [dict(name=name, teacher_input='clean' if name == 'clean' else 'adv',
                     encoder=dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit',
                                  pretrained=str(folder / f'{name}.pt')))
                for name in ('clean', 'robust')]
    path = folder / 'views.py'
    path.write_text(f'_base_ = [{str(TINY)!r}]\n'
                    f'train_dataloader = dict(dataset=dict(_delete_=True, type="FixedViewsDataset", views={VIEWS}, '
                    f'dataset={shapes!r}))\n'
                    f'model = dict(cache_clean_teacher_outputs=True, teachers={teachers!r})\n')
    return path


def test_cache_holds_the_clean_teachers_output_for_every_view(config, tmp_path):
    result = CliRunner().invoke(cli, ['cache-teacher', str(config), '--work-dir', str(tmp_path), '--batch-size', '5'])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / 'clean_teacher_cache').iterdir()) == ['clean.rows']  # robust sees x_adv
    path = tmp_path / 'clean_teacher_cache' / 'clean.rows'
    rows = SharedRows(path, SharedRows._read_header(path))
    assert rows.filled(range(IMAGES * VIEWS)).all() and rows.rows == IMAGES * VIEWS
    views = FixedViewsDataset(ShapesDataset(num_samples=IMAGES, cache_dir=str(config.parent / 'shapes')), views=VIEWS)
    teacher = FrozenTeacher(OpenCLIPEncoder('mmtard-tiny-vit', pretrained=str(config.parent / 'clean.pt')))
    for key in (0, 7, 31):
        image, view = divmod(key, VIEWS)
        expected = teacher(views.view(views.dataset[image]['inputs'], image, view)[None])[0]
        torch.testing.assert_close(rows.read([key])[0], expected, rtol=1e-5, atol=1e-6)


def test_training_reads_the_cache_and_runs_no_clean_teacher_forward(config, tmp_path, monkeypatch):
    assert CliRunner().invoke(cli, ['cache-teacher', str(config), '--work-dir', str(tmp_path)]).exit_code == 0
    stored = []
    original = teacher_cache.TeacherEmbeddingCache.store
    monkeypatch.setattr(teacher_cache.TeacherEmbeddingCache, 'store',
                        lambda self, keys, embeddings: stored.append(len(keys)) or original(self, keys, embeddings))
    result = CliRunner().invoke(cli, ['train', str(config), '--work-dir', str(tmp_path), *RUN], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert stored == [], 'every training step found its clean-teacher outputs in the file'


def test_a_cache_of_other_data_is_refused(config, tmp_path):
    assert CliRunner().invoke(cli, ['cache-teacher', str(config), '--work-dir', str(tmp_path)]).exit_code == 0
    result = CliRunner().invoke(cli, ['train', str(config), '--work-dir', str(tmp_path), *RUN,
                                      '-o', 'train_dataloader.dataset.views=3'])
    assert result.exit_code == 2, result.output
    assert 'was computed for another sample count and training data' in result.output
    assert 'mmtard cache-teacher' in result.output


def test_a_config_that_does_not_cache_is_told_how(tmp_path):
    result = CliRunner().invoke(cli, ['cache-teacher', str(TINY), '--work-dir', str(tmp_path)])
    assert result.exit_code == 2 and 'model.cache_clean_teacher_outputs=True' in result.output
    assert not (tmp_path / 'clean_teacher_cache').exists()


class JitteredShapes(ShapesDataset):
    """Shapes with random brightness: new pixels at every read, as random augmentation gives."""

    def __getitem__(self, index):
        item = dict(super().__getitem__(index))
        item['inputs'] = (item['inputs'] * (0.8 + 0.2 * torch.rand(()))).clamp(0, 1)
        return item


def test_randomly_augmented_data_is_refused_and_fixed_views_of_it_are_accepted(config, tmp_path, isolated_registries):
    from mmtard.registry import DATASETS

    DATASETS.register_module(module=JitteredShapes)
    jittered = dict(type='JitteredShapes', split='train', classes='seen', num_samples=IMAGES,
                    cache_dir=str(config.parent / 'shapes'))
    for name, dataset in (('plain', jittered), ('views', dict(type='FixedViewsDataset', views=2, dataset=jittered))):
        (tmp_path / f'{name}.py').write_text(f'_base_ = [{str(config)!r}]\n'
                                             f'train_dataloader = dict(dataset=dict(_delete_=True, **{dataset!r}))\n')
        for command in (['cache-teacher'], ['train', *RUN]):  # training would fill the cache itself
            result = CliRunner().invoke(cli, [command[0], str(tmp_path / f'{name}.py'), '--work-dir', str(tmp_path),
                                              *command[1:]])
            text = ' '.join(result.output.split())  # fixed views of pixels that move at every read move too
            assert result.exit_code == 2 and 'random augmentation' in text and 'FixedViewsDataset' in text, text
            assert not (tmp_path / 'clean_teacher_cache').exists() and not list(tmp_path.glob('iter_*.pth'))
    torch.manual_seed(0)
    state = torch.get_rng_state()
    check_fixed_pixels(EverySample(FixedViewsDataset(ShapesDataset(num_samples=IMAGES, cache_dir=str(
        config.parent / 'shapes')), views=VIEWS)))
    assert torch.equal(torch.get_rng_state(), state), 'the probe leaves the random state as it found it'


def test_a_rerun_keeps_the_old_cache_until_the_new_one_is_complete(config, tmp_path, monkeypatch):
    """A kill while `cache-teacher` refills a complete cache leaves the complete one in place."""
    from mmtard.models.shared_rows import SharedRows

    assert CliRunner().invoke(cli, ['cache-teacher', str(config), '--work-dir', str(tmp_path)]).exit_code == 0
    path = tmp_path / 'clean_teacher_cache' / 'clean.rows'
    before = path.read_bytes()

    def killed(self, keys, values):
        raise KeyboardInterrupt

    monkeypatch.setattr(SharedRows, 'write', killed)
    CliRunner().invoke(cli, ['cache-teacher', str(config), '--work-dir', str(tmp_path)])
    assert path.read_bytes() == before


def test_teachers_with_random_weights_are_the_same_in_cache_teacher_and_training(config, tmp_path, monkeypatch):
    """Both seed from the config's ``randomness`` before building (a benchmark trains random-weight
    teachers): the cache's weight checksums match, and training reads it."""
    random = [arg for index in range(2) for arg in ('-o', f'model.teachers.{index}.encoder.pretrained=None')]
    first = CliRunner().invoke(cli, ['cache-teacher', str(config), '--work-dir', str(tmp_path / 'run'), *random])
    assert first.exit_code == 0, first.output
    torch.manual_seed(1234)  # whatever the process drew before, training seeds again
    stored = []
    original = teacher_cache.TeacherEmbeddingCache.store
    monkeypatch.setattr(teacher_cache.TeacherEmbeddingCache, 'store',
                        lambda self, keys, embeddings: stored.append(len(keys)) or original(self, keys, embeddings))
    result = CliRunner().invoke(cli, ['train', str(config), '--work-dir', str(tmp_path / 'run'), *RUN, *random])
    assert result.exit_code == 0, result.output
    assert stored == []
