"""`mmtard results merge`: two runs of different models in one table and one accuracy-vs-eps figure."""
import csv

import torch
from click.testing import CliRunner
from PIL import Image

from mmtard.cli.eval import eval_command
from mmtard.cli.main import cli
from mmtard.evaluation.results import read_results

from test_eval_command_line import image_folder


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
    clean = f'| mmtard-tiny-vit iter_1.pth | clean | {100 * probed[0].clean_acc:.0f} |'
    robust = f'| mmtard-tiny-vit random.pt | 4 | {100 * random[1].robust_acc:.0f} |'
    assert clean in table and robust in table
    assert (tmp_path / 'eps.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_merge_names_folders_without_results(tmp_path):
    (tmp_path / 'empty').mkdir()
    result = CliRunner().invoke(cli, ['results', 'merge', str(tmp_path / 'empty')])
    assert result.exit_code == 2 and 'holds no finished evaluation' in result.output
    bad = CliRunner().invoke(cli, ['results', 'merge', str(tmp_path / 'empty'), '-o', str(tmp_path / 'x.xlsx')])
    assert bad.exit_code == 2 and '.csv' in bad.output
