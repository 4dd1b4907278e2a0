"""A dataset's image size is checked against the model's input size before any evaluation."""
import pytest
from mmengine.config import Config
from PIL import Image

from mmtard.apis.evaluate import evaluate
from mmtard.errors import ConfigError

from eval_helpers import MODEL, Recorded


def image_folder(root, size=(48, 40)):
    for folder in ('circle', 'square'):
        (root / folder).mkdir(parents=True)
        for i in range(2):
            Image.new('RGB', size, (40 * i, 90, 200)).save(root / folder / f'{i}.png')
    return str(root)


def config(tmp_path, dataset):
    return Config(dict(model=MODEL, evaluation=dict(datasets=[dict(name='folder', dataset=dataset)], n_clean=4,
                                                    n_robust=2, eps=[], batch_size=4)))


def test_a_folder_without_image_size_is_resized_to_the_models_input_with_a_warning(tmp_path):
    recorded = Recorded()
    dataset = dict(type='ImageFolderDataset', root=image_folder(tmp_path / 'data'))  # default 224 px
    records = evaluate(config(tmp_path, dataset), out_dir=tmp_path / 'out', progress=recorded)
    assert records[0].n == 4
    random_tower, text = recorded.warnings  # MODEL names no weights
    assert 'randomly initialised image tower' in random_tower
    assert "folder: image_size is not set, so images are resized to the model's input size, 32 px" in text
    assert "default is 224 px" in text


def test_a_folder_at_another_explicit_size_is_refused(tmp_path, quiet):
    dataset = dict(type='ImageFolderDataset', root=image_folder(tmp_path / 'data'), image_size=64)
    with pytest.raises(ConfigError, match=r"'folder' delivers 64x64 px images but the model takes 32x32 px.*"
                                          r"image_size=32"):
        evaluate(config(tmp_path, dataset), out_dir=tmp_path / 'out', progress=quiet)
    assert not (tmp_path / 'out' / 'results.json').exists()
