"""CLIP_benchmark's webdataset layout: shard order, own class names and templates, captions, the release's samples."""
import random
import tarfile

import numpy as np
import pytest

from mmtard.datasets.clip_benchmark_wds import (CLIPBenchmarkClassification, CLIPBenchmarkRetrieval,
                                                clip_benchmark_order, clip_benchmark_selection)
from mmtard.errors import ConfigError, DatasetNotFoundError, DatasetReadError

from wds_helpers import write_wds


def images(n, size=16):
    """Image i is filled with grey level 10 * i, so an item shows which sample it is."""
    return [np.full((size, size, 3), 10 * i, dtype=np.uint8) for i in range(n)]


def test_samples_come_in_shard_order_with_the_folders_class_names_and_templates(tmp_path):
    root = write_wds(tmp_path / 'wds_toy', images(10), labels=[i % 3 for i in range(10)], per_shard=4,
                     classnames=['cat', 'dog', 'car'], templates=['a photo of a {c}.', 'art of the {c}.'])
    data = CLIPBenchmarkClassification(str(root), image_size=16)
    assert len(data) == 10 and data.shard_sizes == [4, 4, 2]
    assert data.classnames == ['cat', 'dog', 'car']
    assert data.templates == ['a photo of a {}.', 'art of the {}.']
    assert data.targets == [i % 3 for i in range(10)]
    for i in (0, 5, 9):  # lossless PNG: the grey level comes back exactly
        item = data[i]
        assert item['label'] == i % 3 and item['inputs'].shape == (3, 16, 16)
        assert float(item['inputs'].mean()) == pytest.approx(10 * i / 255, abs=1e-6)


def test_jpg_and_webp_images_are_read(tmp_path):
    for image_format in ('jpeg', 'webp'):
        root = write_wds(tmp_path / image_format, images(3), labels=[0, 1, 0], classnames=['a', 'b'],
                         templates=['{c}'], image_format=image_format)
        data = CLIPBenchmarkClassification(str(root), image_size=16)
        assert float(data[2]['inputs'].mean()) == pytest.approx(20 / 255, abs=3 / 255)


def test_retrieval_shards_give_one_row_per_caption(tmp_path):
    root = write_wds(tmp_path / 'wds_caps', images(3), captions=[['a', 'b'], ['c'], ['d', 'e', 'f']], per_shard=2)
    data = CLIPBenchmarkRetrieval(str(root), image_size=16)
    assert data.captions == ['a', 'b', 'c', 'd', 'e', 'f']
    assert len(set(data.image_files)) == 3 and data.image_files[0] == data.image_files[1]
    assert data[3]['caption'] == 'd' and float(data[3]['inputs'].mean()) == pytest.approx(20 / 255, abs=1e-6)
    with pytest.raises(ConfigError, match='retrieval'):
        CLIPBenchmarkClassification(str(root))


def test_missing_pieces_are_named(tmp_path):
    with pytest.raises(DatasetNotFoundError, match='nshards.txt'):
        CLIPBenchmarkClassification(str(tmp_path / 'nothing'))
    root = write_wds(tmp_path / 'no_names', images(2), labels=[0, 1])
    with pytest.raises(DatasetNotFoundError, match='classnames.txt and zeroshot_classification_templates.txt'):
        CLIPBenchmarkClassification(str(root))
    root = write_wds(tmp_path / 'cut', images(6), labels=[0, 1] * 3, classnames=['a', 'b'], templates=['{c}'])
    (root / 'test' / '1.tar').unlink()
    with pytest.raises(DatasetNotFoundError, match='announces 2 shards but 1 are missing'):
        CLIPBenchmarkClassification(str(root))
    root = write_wds(tmp_path / 'wrong_names', images(2), labels=[0, 5], classnames=['a', 'b'], templates=['{c}'])
    with pytest.raises(DatasetReadError, match=r'classes \[5\]'):
        CLIPBenchmarkClassification(str(root))
    (root / 'test' / '0.tar').write_bytes(b'not a tar')
    with pytest.raises(DatasetReadError, match='cannot be read as a tar'):
        CLIPBenchmarkClassification(str(root))


@pytest.mark.parametrize('templates, messages', [
    (['a photo of {c'], ["line 1, 'a photo of {c': an unmatched brace"]),
    (['a photo of a {c}.', '{x}'], ["line 2, '{x}': the field {x}, not {c}"]),
    (['a photo of a {c}.', 'a photo of a {}.', 'a photo'], ['has 2 templates', "'a photo of a {}.': the field {}",
                                                            "line 3, 'a photo': no {c}"]),
    ([], ['holds no templates', "'a photo of a {c}.'"]),
    (['  ', ''], ['holds no templates']),
])
def test_templates_clip_benchmark_cannot_fill_are_named_with_their_line(tmp_path, templates, messages):
    root = write_wds(tmp_path / 'wds_toy', images(2), labels=[0, 1], classnames=['a', 'b'], templates=templates)
    with pytest.raises(DatasetReadError) as err:
        CLIPBenchmarkClassification(str(root))
    text = str(err.value)
    assert str(root / 'zeroshot_classification_templates.txt') in text and 'again from the dataset' in text
    for message in messages:
        assert message in text, text
    # templates= replaces the folder's: its file is not read
    assert CLIPBenchmarkClassification(str(root), templates='simple').templates == ['a photo of a {}.']


def test_templates_are_filled_as_clip_benchmark_fills_them(tmp_path):
    root = write_wds(tmp_path / 'wds_toy', images(2), labels=[0, 1], classnames=['a', 'b'],
                     templates=['a {c} in {{braces}}', 'the {c}, or a {c}'])
    assert CLIPBenchmarkClassification(str(root)).templates == ['a {} in {braces}', 'the {}, or a {}']


def test_class_names_that_are_not_utf8_or_none_are_named(tmp_path):
    root = write_wds(tmp_path / 'wds_toy', images(2), labels=[0, 1], classnames=['a', 'b'], templates=['{c}'])
    (root / 'classnames.txt').write_bytes('cat\ncaf\u00e9\n'.encode('latin-1'))
    with pytest.raises(DatasetReadError) as err:
        CLIPBenchmarkClassification(str(root))
    text = str(err.value)
    assert f'{root / "classnames.txt"} is not UTF-8 text (byte 0xe9 on line 2)' in text and 'iconv' in text
    (root / 'classnames.txt').write_text('\n')
    with pytest.raises(DatasetReadError, match='classnames.txt holds no class names'):
        CLIPBenchmarkClassification(str(root))
    (root / 'classnames.txt').write_bytes(b'\xef\xbb\xbfcat\ndog\n')  # a byte-order mark is no part of a name
    assert CLIPBenchmarkClassification(str(root)).classnames == ['cat', 'dog']


def _cuts(shard):
    """Where a download of ``shard`` may break off: inside an image, at and inside the last class
    member's header, and just before the end-of-archive blocks."""
    with tarfile.open(shard) as tar:
        members = tar.getmembers()
        end = tar.offset
    image, label = members[-2], members[-1]
    return {'in an image': image.offset_data + image.size // 2, 'at a header': label.offset,
            'in a header': label.offset + 100, 'before the end': end}


@pytest.mark.parametrize('where', ['in an image', 'at a header', 'in a header', 'before the end'])
def test_a_shard_cut_short_is_named_with_how_to_get_it_again(tmp_path, where):
    root = write_wds(tmp_path / 'wds_toy', images(6), labels=[0, 1] * 3, classnames=['a', 'b'], templates=['{c}'],
                     per_shard=4)
    shard = root / 'test' / '1.tar'
    shard.write_bytes(shard.read_bytes()[:_cuts(shard)[where]])
    for dataset in (CLIPBenchmarkClassification, CLIPBenchmarkRetrieval):
        with pytest.raises(DatasetReadError) as err:
            dataset(str(root))
        text = str(err.value)
        assert f'The shard {shard} is truncated or damaged' in text and 'Download test/1.tar again' in text, text
        assert 'has no class' not in text


def test_selection_with_one_worker_and_a_buffer_larger_than_the_data_is_a_seeded_draw(tmp_path):
    # the buffer takes all 7, then each pick swaps the last into the picked slot
    order = clip_benchmark_order([7], seed=3, workers=1)
    rng, buffer, expected = random.Random(3), list(range(7)), []
    while buffer:
        k = rng.randint(0, len(buffer) - 1)
        expected.append(buffer[k])
        buffer[k] = buffer[-1]
        buffer.pop()
    assert order == expected
    assert sorted(clip_benchmark_order([3, 4, 2], seed=0)) == list(range(9))
    assert set(clip_benchmark_selection([3, 4, 2], 4)) <= set(clip_benchmark_selection([3, 4, 2], 6))


def test_selection_equals_webdatasets_own_pipeline():
    """The release's loader: webdataset 0.2.48's shuffle(10000, initial=10000) per worker, batches of 50,
    one batch per worker in turn (torch's DataLoader); run here with webdataset itself where installed."""
    webdataset = pytest.importorskip('webdataset')
    from webdataset import filters

    shard_sizes = [120, 80, 130, 40, 70]
    starts = np.cumsum([0] + shard_sizes)
    for buffer, workers in ((10000, 4), (64, 1), (64, 3)):
        streams = []
        for worker in range(workers):
            items = iter([i for s in range(len(shard_sizes))[worker::workers] for i in range(starts[s], starts[s + 1])])
            shuffled = filters._shuffle(items, buffer, buffer, rng=random.Random(7))
            streams.append(filters._batched(shuffled, 50, collation_fn=list))
        theirs = []
        while streams:
            for stream in list(streams):
                batch = next(stream, None)
                if batch is None:
                    streams.remove(stream)
                else:
                    theirs.extend(batch)
        assert webdataset.__version__ and clip_benchmark_order(shard_sizes, 7, workers, 50, buffer) == theirs
