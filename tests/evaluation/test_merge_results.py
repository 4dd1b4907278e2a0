"""`mmtard results merge`: two runs of different models in one table and one accuracy-vs-eps figure."""
import csv
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from mmtard.cli.eval import eval_command
from mmtard.cli.main import cli
from mmtard.apis.merge_results import merge, row_labels
from mmtard.evaluation.results import BenchmarkResult, read_results, write_results

from eval_helpers import image_folder


def evaluate_into(out, model_file, folder):
    result = CliRunner().invoke(eval_command, [str(a) for a in (
        '--model', 'mmtard-tiny-vit', '--pretrained', model_file, '--dataset', folder, '--eps', 1, 4,
        '--n-clean', 6, '--n-robust', 3, '--n-iter', 1, '--out', out)])
    assert result.exit_code == 0, result.output
    return read_results(out)


def test_merge_two_runs_into_one_table_and_a_png(tmp_path, checkpoint):
    from mmtard.models.encoders import OpenCLIPEncoder

    folder = image_folder(tmp_path / 'colours')
    torch.manual_seed(0)
    torch.save(OpenCLIPEncoder('mmtard-tiny-vit').model.state_dict(), tmp_path / 'random.pt')
    probed = evaluate_into(tmp_path / 'runs' / 'probed', checkpoint, folder)
    random = evaluate_into(tmp_path / 'runs' / 'random', tmp_path / 'random.pt', folder)

    result = CliRunner().invoke(cli, ['results', 'merge', str(tmp_path / 'runs'), '-o', str(tmp_path / 'table.csv')])
    assert result.exit_code == 0, result.output
    with open(tmp_path / 'table.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [(r['pretrained'], r['eps_255']) for r in rows] == [('iter_1.pth', '1/255'), ('iter_1.pth', '4/255'),
                                                              ('random.pt', '1/255'), ('random.pt', '4/255')]
    checkpoint_folder = Path(checkpoint).parent.name
    assert {r['label'] for r in rows} == {f'mmtard-tiny-vit {checkpoint_folder}/iter_1.pth',
                                          f'mmtard-tiny-vit {tmp_path.name}/random.pt'}
    assert {r['run'] for r in rows} == {str(tmp_path / 'runs' / 'probed'), str(tmp_path / 'runs' / 'random')}
    assert [float(r['robust_acc']) for r in rows] == [round(r.robust_acc, 1) for r in probed + random]  # 3 samples
    with Image.open(tmp_path / 'table.png') as figure:  # the default figure: the table's name
        assert figure.format == 'PNG' and figure.size[0] > 200

    md = CliRunner().invoke(cli, ['results', 'merge', str(tmp_path / 'runs' / 'probed'), str(tmp_path / 'runs' / 'random'),
                                  '-o', str(tmp_path / 'table.md'), '--plot', str(tmp_path / 'eps.png')])
    assert md.exit_code == 0, md.output
    table = (tmp_path / 'table.md').read_text()
    assert table.splitlines()[0] == '| model | eps (/255) | colours |'
    # per model: clean accuracy (6 samples, eps 0), then robust accuracy at 1 and 4 /255 (3 samples)
    clean = f'| mmtard-tiny-vit {checkpoint_folder}/iter_1.pth | clean | {100 * probed[0].clean_acc:.0f} |'
    robust = f'| mmtard-tiny-vit {tmp_path.name}/random.pt | 4 | {100 * random[1].robust_acc:.0f} |'
    assert clean in table and robust in table
    assert (tmp_path / 'eps.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_merge_names_folders_without_results(tmp_path):
    (tmp_path / 'empty').mkdir()
    result = CliRunner().invoke(cli, ['results', 'merge', str(tmp_path / 'empty')])
    assert result.exit_code == 2 and 'holds no finished evaluation' in result.output
    bad = CliRunner().invoke(cli, ['results', 'merge', str(tmp_path / 'empty'), '-o', str(tmp_path / 'x.xlsx')])
    assert bad.exit_code == 2 and '.csv' in bad.output


def result_row(checksum: str, folder: str, clean: float, robust: float, **fields) -> BenchmarkResult:
    return BenchmarkResult(dataset='mnist', split='test', task='classification', n=100, n_robust=50, eps=4.0,
                           attack='APGD-CE', clean_acc=clean, robust_acc=robust, model_checksum=checksum,
                           model='mmtard-tiny-vit', pretrained='iter_500.pth', weights_folder=folder,
                           **{'model_key': 'student', 'sampling': 'first-n', **fields})


def test_seven_evaluations_of_iter_500_checkpoints_stay_seven_models(tmp_path):
    """Every mmtard checkpoint is iter_N.pth: rows are told apart by checksum, labelled by run folder."""
    stages = ['base', 'clean', 'robust', 'single', 'dual', 'dynamic', 'mtard']
    for i, stage in enumerate(stages):
        write_results([result_row(f'{i:02d}' * 8, stage, clean=0.5 + i / 100, robust=0.1 + i / 100)],
                      tmp_path / 'evals' / stage)
    result = CliRunner().invoke(cli, ['results', 'merge', str(tmp_path / 'evals'), '-o', str(tmp_path / 't.csv')])
    assert result.exit_code == 0, result.output
    with open(tmp_path / 't.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7 and len({r['label'] for r in rows}) == 7
    by_label = {r['label']: (float(r['clean_acc']), float(r['robust_acc'])) for r in rows}
    assert by_label['mmtard-tiny-vit dual/iter_500.pth'] == (0.54, 0.14)  # never another model's numbers
    again = CliRunner().invoke(cli, ['results', 'merge', str(tmp_path / 'evals'), '-o', str(tmp_path / 't.md')])
    assert again.exit_code != 0 and "t.png' exists; pass --overwrite" in ' '.join(again.output.split())
    md = CliRunner().invoke(cli, ['results', 'merge', str(tmp_path / 'evals'), '-o', str(tmp_path / 't.md'), '--overwrite'])
    table = (tmp_path / 't.md').read_text()
    assert md.exit_code == 0 and '| mmtard-tiny-vit mtard/iter_500.pth | 4 | 16 |' in table, table


def test_models_sharing_a_label_get_their_checksum_and_a_remeasured_row_is_refused(tmp_path):
    write_results([result_row('a' * 16, 'run', 0.5, 0.1)], tmp_path / 'one')
    write_results([result_row('b' * 16, 'run', 0.6, 0.2)], tmp_path / 'two')  # another machine's run/iter_500.pth
    rows = merge([tmp_path / 'one', tmp_path / 'two'])
    assert sorted(row_labels(rows).values()) == ['mmtard-tiny-vit run/iter_500.pth #aaaaaaaa',
                                                 'mmtard-tiny-vit run/iter_500.pth #bbbbbbbb']
    write_results([result_row('a' * 16, 'run', 0.5, 0.1)], tmp_path / 'again')  # the same measurement: kept once
    assert len(merge([tmp_path / 'one', tmp_path / 'again'])) == 1
    write_results([result_row('a' * 16, 'run', 0.5, 0.3)], tmp_path / 'differs')
    result = CliRunner().invoke(cli, ['results', 'merge', str(tmp_path / 'one'), str(tmp_path / 'differs')])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and 'different accuracies' in text and 'differs' in text and 'Traceback' not in text


@pytest.mark.parametrize('command', [['results', 'table'], ['results', 'merge', '-o', 'x.md']])
def test_two_evaluations_of_one_model_on_other_samples_never_share_a_cell_silently(tmp_path, command, monkeypatch):
    """The same weights on two seeds' samples: a table cell would show one of them, by folder order."""
    write_results([result_row('a' * 16, 'run', 0.5, 0.1)], tmp_path / 'hundred')
    write_results([result_row('a' * 16, 'run', 0.55, 0.1, seed=1)], tmp_path / 'seed1')
    monkeypatch.chdir(tmp_path)
    for order in (['hundred', 'seed1'], ['seed1', 'hundred']):
        result = CliRunner().invoke(cli, [*command[:2], *order, *command[2:]])
        text = ' '.join(result.output.split())
        assert result.exit_code == 2 and 'measured twice with different results' in text, text
        assert '50% of 100' in text and '55% of 100' in text, text
        assert 'Traceback' not in result.output and not (tmp_path / 'x.md').exists()
    write_results([result_row('a' * 16, 'run', 0.5, 0.1)], tmp_path / 'again')  # the same measurement: one cell
    assert CliRunner().invoke(cli, [*command[:2], 'hundred', 'again', *command[2:]]).exit_code == 0


@pytest.mark.parametrize('content, message', [
    ('[{"dataset": "mnist", "n": 10', 'is not valid JSON'),
    ('{"dataset": "mnist"}', 'holds a dict, not a list'),
    ('[1, 2]', 'not a list of result rows'),
    ('[{"dataset": "mnist", "eps": 4}]', 'lacks n, n_robust'),
])
def test_damaged_results_files_are_named(tmp_path, content, message):
    (tmp_path / 'ev').mkdir()
    (tmp_path / 'ev' / 'results.json').write_text(content)
    result = CliRunner().invoke(cli, ['results', 'merge', str(tmp_path / 'ev')])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and message in text and str(tmp_path / 'ev' / 'results.json') in text, text
    assert 'Traceback' not in result.output


@pytest.mark.parametrize('field, value, message', [
    ('clean_acc', None, 'clean_acc is null, not a number,'),
    ('robust_acc', 'abc', 'robust_acc is "abc", not a number or null,'),
    ('n_robust', 50.5, 'n_robust is 50.5, not a whole number,'),
    ('per_attack', {'apgd-ce': '0.1'}, 'per_attack["apgd-ce"] is "0.1", not a number,'),
    ('per_attack', [0.5], 'per_attack is [0.5], not an object of numbers'),
])
def test_a_value_that_is_not_a_number_is_named_by_file_row_and_field(tmp_path, field, value, message):
    good = result_row('a' * 16, 'run', 0.5, 0.1).as_dict()
    bad = {**result_row('b' * 16, 'run', 0.6, 0.2).as_dict(), 'dataset': 'cifar10', field: value}
    path = tmp_path / 'ev' / 'results.json'
    path.parent.mkdir()
    path.write_text(json.dumps([good, bad]))
    for command in ('table', 'merge'):
        result = CliRunner().invoke(cli, ['results', command, str(path.parent), '-o', str(tmp_path / 'out.md')])
        text = ' '.join(result.output.split())
        assert result.exit_code == 2 and 'Traceback' not in result.output, result.output
        assert f"'{path}', row 2 of 2 (dataset 'cifar10'): {message}" in text, text
        assert 'Put the measured value back' in text and 'run the evaluation again' in text
        assert not (tmp_path / 'out.md').exists()


def test_null_in_a_field_that_may_be_empty_is_read(tmp_path):
    write_results([result_row('a' * 16, 'run', 0.5, None)], tmp_path / 'ev')  # no attack: robust_acc null
    (record,) = read_results(tmp_path / 'ev')
    assert (record.clean_acc, record.robust_acc, record.attacked_clean_acc) == (0.5, None, None)


def test_rows_of_an_older_schema_without_split_and_task_are_read(tmp_path):
    row = result_row('c' * 16, 'run', 0.5, 0.1).as_dict()
    for key in ('split', 'task', 'weights_folder', 'model_key'):
        row.pop(key)
    (tmp_path / 'old').mkdir()
    (tmp_path / 'old' / 'results.json').write_text(json.dumps([row]))
    (record,) = read_results(tmp_path / 'old')
    assert (record.split, record.task, record.clean_acc) == ('', 'classification', 0.5)


def test_outputs_never_replace_an_evaluations_own_files(tmp_path):
    write_results([result_row('ab' * 8, 'one', clean=0.5, robust=0.1)], tmp_path / 'ev')
    before = (tmp_path / 'ev' / 'results.md').read_text()
    for args in (['merge', str(tmp_path / 'ev'), '-o', str(tmp_path / 'ev' / 'results.md'), '--overwrite'],
                 ['merge', str(tmp_path / 'ev'), '-o', str(tmp_path / 'ev' / 'results.csv'), '--overwrite'],
                 ['table', str(tmp_path / 'ev'), '-o', str(tmp_path / 'ev' / 'results.md'), '--overwrite']):
        result = CliRunner().invoke(cli, ['results', *args])
        assert result.exit_code != 0 and 'would replace a file of the evaluation' in result.output, args
    assert (tmp_path / 'ev' / 'results.md').read_text() == before
    (tmp_path / 'mine.md').write_text('my notes')
    table = CliRunner().invoke(cli, ['results', 'table', str(tmp_path / 'ev'), '-o', str(tmp_path / 'mine.md')])
    assert table.exit_code != 0 and '--overwrite' in table.output and (tmp_path / 'mine.md').read_text() == 'my notes'
