"""Inputs as the model needs them: 16-bit and palette images read to the right values, caption CSVs
in another encoding named with their encoding, and image sizes checked against the model."""
import codecs

import pytest
import torch
from PIL import Image

from mmtard.datasets import CaptionCSVDataset
from mmtard.datasets.preprocess import load_image
from mmtard.errors import ConfigError, DatasetReadError


def test_a_16_bit_mid_grey_png_loads_as_mid_grey(tmp_path):
    path = tmp_path / 'grey16.png'
    Image.new('I;16', (12, 10), 32768).save(path)
    with Image.open(path) as image:
        assert image.mode in ('I;16', 'I')  # what PIL reads back: convert('RGB') would clip it to 255 (white)
    pixels = load_image(path, 8)
    assert pixels.shape == (3, 8, 8)
    assert torch.allclose(pixels, torch.full_like(pixels, 32768 / 65535), atol=1e-5)
    Image.new('I;16', (12, 10), 65535).save(path)
    assert torch.allclose(load_image(path, 8), torch.ones(3, 8, 8))


def test_a_palette_png_with_transparency_keeps_its_colours_without_a_warning(tmp_path, recwarn):
    image = Image.new('P', (10, 10), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, 5, 10))
    image.info['transparency'] = 0
    image.save(tmp_path / 'palette.png')
    pixels = load_image(tmp_path / 'palette.png', 10)
    assert pixels[:, 5, 0].tolist() == [0., 0., 1.] and pixels[:, 5, 9].tolist() == [1., 0., 0.]
    assert not [w for w in recwarn if 'Palette' in str(w.message)]


def write_csv(tmp_path, data: bytes):
    Image.new('RGB', (8, 8)).save(tmp_path / 'a.png')
    (tmp_path / 'captions.csv').write_bytes(data)
    return tmp_path / 'captions.csv'


def test_caption_csvs_in_other_encodings_name_the_file_and_encoding(tmp_path):
    text = 'filepath,caption\na.png,un café crème\n'
    latin = write_csv(tmp_path, text.encode('latin-1'))
    with pytest.raises(DatasetReadError) as err:
        CaptionCSVDataset(str(latin), image_size=8)
    assert str(latin) in str(err.value) and 'line 2' in str(err.value) and "encoding='latin-1'" in str(err.value)
    assert CaptionCSVDataset(str(latin), image_size=8, encoding='latin-1').captions == ['un café crème']
    utf16 = write_csv(tmp_path, text.encode('utf-16'))
    with pytest.raises(DatasetReadError, match="UTF-16 byte-order mark.*encoding='utf-16'"):
        CaptionCSVDataset(str(utf16), image_size=8)
    assert CaptionCSVDataset(str(utf16), image_size=8, encoding='utf-16').captions == ['un café crème']
    excel = write_csv(tmp_path, codecs.BOM_UTF8 + text.encode('utf-8'))  # Excel's "CSV UTF-8"
    assert CaptionCSVDataset(str(excel), image_size=8).captions == ['un café crème']
    with pytest.raises(ConfigError, match="encoding='utf-9'"):
        CaptionCSVDataset(str(excel), image_size=8, encoding='utf-9')
