import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader

from mmtard.datasets import CaptionCSVDataset
from mmtard.errors import ConfigError, DatasetNotFoundError


@pytest.fixture
def csv_file(tmp_path):
    (tmp_path / 'img').mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), 80 * i, dtype=np.uint8)).save(tmp_path / 'img' / f'{i}.jpg')
    path = tmp_path / 'pairs.csv'
    path.write_text('filepath,caption\n' + ''.join(f'img/{i}.jpg,"a photo, number {i}"\n' for i in range(3)))
    return path


def test_items_and_default_collate(csv_file):
    ds = CaptionCSVDataset(str(csv_file), image_size=16)
    assert len(ds) == 3
    item = ds[1]
    assert set(item) == {'inputs', 'caption', 'index'}
    assert item['caption'] == 'a photo, number 1' and item['index'] == 1
    assert item['inputs'].shape == (3, 16, 16) and 0 <= item['inputs'].min() <= item['inputs'].max() <= 1
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch['inputs'].shape == (3, 3, 16, 16)
    assert batch['caption'] == ['a photo, number 0', 'a photo, number 1', 'a photo, number 2']


def test_custom_columns_and_image_root(tmp_path, csv_file):
    tsv = tmp_path / 'other' / 'pairs.tsv'
    tsv.parent.mkdir()
    tsv.write_text('path\ttext\n0.jpg\thello\n')
    ds = CaptionCSVDataset(str(tsv), image_root=str(tmp_path / 'img'), image_key='path', caption_key='text',
                           delimiter='\t', image_size=8)
    assert ds[0]['caption'] == 'hello' and ds[0]['inputs'].shape == (3, 8, 8)


def test_errors(tmp_path, csv_file):
    with pytest.raises(DatasetNotFoundError, match='missing.csv'):
        CaptionCSVDataset(str(tmp_path / 'missing.csv'))
    with pytest.raises(ConfigError, match="Did you mean 'caption'"):
        CaptionCSVDataset(str(csv_file), caption_key='captions')
    ds = CaptionCSVDataset(str(csv_file), image_root=str(tmp_path / 'elsewhere'))
    with pytest.raises(DatasetNotFoundError, match='elsewhere'):
        ds[0]
