"""`mmtard eval` on CLIP_benchmark webdataset shards, by name and by path, with their own class names and templates."""
import json
import tarfile

import numpy as np
import pytest
from click.testing import CliRunner

from mmtard.cli.eval import eval_command
from mmtard.datasets import ShapesDataset
from mmtard.datasets.clip_benchmark_wds import clip_benchmark_order

from eval_helpers import spy_class_embeddings
from wds_helpers import write_wds

TEMPLATES = ['a drawing of a {c}.', 'a picture of a {c}.']


def run(*args):
    return CliRunner().invoke(eval_command, [str(a) for a in args])


def rows(out):
    return json.loads((out / 'results.json').read_text())


def shapes_as_wds(root, shapes, n=24):
    """The shapes test split (uint8 images, lossless PNG) written as 3 shards, with renamed classes."""
    config = {k: v for k, v in shapes(n).items() if k != 'type'}
    data = ShapesDataset(**config)
    pixels = [(data[i]['inputs'].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for i in range(n)]
    names = [f'{name} thing' for name in data.classnames]
    write_wds(root, pixels, labels=list(data.labels), classnames=names, templates=TEMPLATES, per_shard=10)
    return config, names


def test_shards_by_name_and_by_path_use_their_own_class_names_and_templates(tmp_path, shapes, checkpoint,
                                                                           monkeypatch):
    embedded = spy_class_embeddings(monkeypatch)
    config, names = shapes_as_wds(tmp_path / 'data' / 'wds_toy-shapes', shapes)
    common = ('--model', 'mmtard-tiny-vit', '--pretrained', checkpoint, '--eps', 1, '--n-robust', 4, '--n-iter', 1)
    by_name = run(*common, '--dataset', 'wds/toy/shapes', '--data-root', tmp_path / 'data', '--out', tmp_path / 'a')
    assert by_name.exit_code == 0, by_name.output
    assert embedded[0] == (names, ['a drawing of a {}.', 'a picture of a {}.'])
    by_path = run(*common, '--dataset', tmp_path / 'data' / 'wds_toy-shapes', '--out', tmp_path / 'b')
    assert by_path.exit_code == 0, by_path.output
    first, second = rows(tmp_path / 'a')[0], rows(tmp_path / 'b')[0]
    assert (first['dataset'], second['dataset'], first['n']) == ('wds/toy/shapes', 'wds_toy-shapes', 24)
    assert first['clean_acc'] == second['clean_acc'] and first['robust_acc'] == second['robust_acc']

    # the same images from the shapes dataset itself, with the same class names and templates: same clean accuracy
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f'evaluation = dict(datasets=[dict(name="shapes", classnames={names!r}, '
                   f'templates={[t.replace("{c}", "{}") for t in TEMPLATES]!r}, dataset={shapes(24)!r})])\n')
    direct = run(cfg, '--model', 'mmtard-tiny-vit', '--pretrained', checkpoint, '--eps', 1, '--n-robust', 4,
                 '--n-iter', 1, '--out', tmp_path / 'c')
    assert direct.exit_code == 0, direct.output
    assert rows(tmp_path / 'c')[0]['clean_acc'] == first['clean_acc'] > 1 / len(names)


def test_a_missing_named_webdataset_says_where_it_looked(tmp_path):
    result = run('--model', 'mmtard-tiny-vit', '--dataset', 'wds/vtab/cifar10', '--data-root', tmp_path)
    assert result.exit_code == 2 and 'Traceback' not in result.output
    text = ' '.join(result.output.split())
    assert 'wds_vtab-cifar10 or' in text and 'clip-benchmark/wds_vtab-cifar10' in text


def test_retrieval_shards_are_scored_as_retrieval(tmp_path, checkpoint):
    pixels = [np.full((32, 32, 3), c, dtype=np.uint8) for c in (20, 120, 220)]
    write_wds(tmp_path / 'wds_caps', pixels, captions=[['dark', 'black'], ['grey'], ['light', 'white']], per_shard=2)
    result = run('--model', 'mmtard-tiny-vit', '--pretrained', checkpoint, '--dataset', tmp_path / 'wds_caps',
                 '--eps', 1, '--n-robust', 2, '--n-iter', 1, '--out', tmp_path / 'out')
    assert result.exit_code == 0, result.output
    assert [(r['dataset'], r['task'], r['n']) for r in rows(tmp_path / 'out')] == [('wds_caps', 'retrieval', 3)]


def test_clip_benchmark_sampling_attacks_the_samples_its_loader_would(tmp_path, shapes, checkpoint):
    shapes_as_wds(tmp_path / 'wds_toy', shapes)  # 24 samples in shards of 10, 10 and 4
    result = run('--model', 'mmtard-tiny-vit', '--pretrained', checkpoint, '--dataset', tmp_path / 'wds_toy',
                 '--eps', 1, '--n-clean', 12, '--n-robust', 5, '--n-iter', 1, '--out', tmp_path / 'out',
                 '-o', 'evaluation.sampling=clip-benchmark')
    assert result.exit_code == 0, result.output
    record = rows(tmp_path / 'out')[0]
    assert record['sampling'] == 'clip-benchmark' and (record['n'], record['n_robust']) == (12, 5)
    assert record['sample_indices'] == sorted(clip_benchmark_order([10, 10, 4], seed=0)[:5])


def _cut_before_last_member(root):
    """Shard 1 broken off where its last member's header starts: what a download cut short leaves."""
    shard = root / 'test' / '1.tar'
    with tarfile.open(shard) as tar:
        cut = tar.getmembers()[-1].offset
    shard.write_bytes(shard.read_bytes()[:cut])
    return f'The shard {shard} is truncated or damaged'


def _unfillable_template(root):
    (root / 'zeroshot_classification_templates.txt').write_text('a photo of a {c}.\na photo of {c\n')
    return "line 2, 'a photo of {c': an unmatched brace"


@pytest.mark.parametrize('damage', [_cut_before_last_member, _unfillable_template])
def test_a_damaged_webdataset_stops_the_evaluation_before_any_prompt_or_attack(tmp_path, monkeypatch, damage):
    embedded = spy_class_embeddings(monkeypatch)
    pixels = [np.full((32, 32, 3), 40 * i, dtype=np.uint8) for i in range(6)]
    root = write_wds(tmp_path / 'wds_toy', pixels, labels=[0, 1] * 3, classnames=['dark', 'light'],
                     templates=['a {c} photo.'], per_shard=4)
    message = damage(root)
    result = run('--model', 'mmtard-tiny-vit', '--dataset', root, '--eps', 1, '--n-robust', 2, '--n-iter', 1,
                 '--out', tmp_path / 'out')
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and 'Traceback' not in result.output and message in text, result.output
    assert 'again from the dataset' in text
    assert embedded == [] and not (tmp_path / 'out' / 'results.json').exists()
