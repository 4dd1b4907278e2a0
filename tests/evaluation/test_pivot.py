"""`mmtard results table`: the papers' pivot of measured rows, beside quoted zoo numbers."""
import csv
import io
from pathlib import Path

from click.testing import CliRunner

from mmtard.cli.main import cli
from mmtard.evaluation.pivot import csv_text, latex, markdown, pivot_table
from mmtard.evaluation.results import BenchmarkResult, write_results
from mmtard.zoo import select

ATTACK = 'APGD-CE (20 it, 1 restarts) [reduced]'


def row(dataset, clean, robust=None, eps=0.0, model='ViT-B-32', pretrained='laion2b_s34b_b79k', checksum='a' * 64,
        attack=ATTACK):
    return BenchmarkResult(dataset=dataset, split='test', task='classification', n=1000, n_robust=100 if robust else 0,
                           eps=eps, attack=attack if robust is not None else '', clean_acc=clean, robust_acc=robust,
                           model=model, pretrained=pretrained, model_checksum=checksum, norm='Linf' if eps else '',
                           eps_255=f'{eps:g}/255' if eps else '', sampling='random')


def records():
    a = [row('imagenet', 0.5, 0.1, 1), row('cifar10', 0.9, 0.4, 1), row('cars', 0.6, 0.3, 1),
         row('imagenet', 0.5, 0.05, 2), row('cifar10', 0.9, 0.2, 2), row('cars', 0.6, 0.1, 2)]
    b = [row('cifar10', 0.8, 0.5, 1, pretrained='mine.pt', checksum='b' * 64)]  # no cars: no average
    return a + b


def test_one_row_per_model_and_threat_model_with_the_zero_shot_average():
    table = pivot_table(records())
    assert table.datasets == ['imagenet', 'cifar10', 'cars'] and table.average_over == ['cifar10', 'cars']
    got = {(r.model, r.setting): (r.values, r.average, r.source) for r in table.rows}
    label = 'ViT-B-32 laion2b_s34b_b79k'
    assert got[(label, 'clean')] == ({'imagenet': '50.0', 'cifar10': '90.0', 'cars': '60.0'}, '75.0', 'measured')
    assert got[(label, 'Linf 1/255')] == ({'imagenet': '10', 'cifar10': '40', 'cars': '30'}, '35.0', 'measured')
    assert got[(label, 'Linf 2/255')][1] == '15.0'  # (20 + 10) / 2: ImageNet is not a zero-shot dataset
    assert got[('ViT-B-32 mine.pt', 'Linf 1/255')] == ({'cifar10': '50'}, '-', 'measured')
    assert len(table.rows) == 5


def test_quoted_rows_sit_beside_and_say_where_they_are_from():
    table = pivot_table(records(), select(['fare4-vit-b-32-laion2b']))
    quoted = [r for r in table.rows if r.model == 'fare4-vit-b-32-laion2b']
    assert [(r.setting, r.average) for r in quoted] == [('clean', '53.8'), ('Linf 1/255', '44.4'),
                                                       ('Linf 2/255', '35.5'), ('Linf 4/255', '21.2')]
    assert all(r.source == 'quoted: chs20/RobustVLM' and not r.values for r in quoted), 'a short citation'
    text = markdown(table)
    assert '| fare4-vit-b-32-laion2b | Linf 1/255 | - | - | - | 44.4 | quoted: ' in text
    assert f'- every measured model: {ATTACK}, 100 attacked samples (random)' in text
    other = row('cifar10', 0.8, 0.5, 1, pretrained='mine.pt', checksum='b' * 64, attack='PGD (10 steps)')
    text = markdown(pivot_table(records()[:6] + [other]))
    assert f'- ViT-B-32 laion2b_s34b_b79k: {ATTACK}, 100 attacked samples (random)' in text
    assert '- ViT-B-32 mine.pt: PGD (10 steps), 100 attacked samples (random)' in text


def test_csv_and_latex_hold_the_same_cells():
    table = pivot_table(records(), select(['tecoa4-vit-b-32']))
    parsed = list(csv.reader(io.StringIO(csv_text(table))))
    assert parsed[0] == ['model', 'threat model', 'imagenet', 'cifar10', 'cars', 'zero-shot average', 'source']
    assert parsed[1] == ['ViT-B-32 laion2b_s34b_b79k', 'clean', '50.0', '90.0', '60.0', '75.0', 'measured']
    tex = latex(table)
    assert r'ViT-B-32 laion2b\_s34b\_b79k & clean & 50.0 & 90.0 & 60.0 & 75.0 & measured \\' in tex
    assert tex.startswith('\\begin{table}') and '\\begin{tabular}{llrrrrl}' in tex and tex.count(r' \\') == len(parsed)
    caption = tex.split('\\caption{')[1].split('\n')[0]
    assert '[reduced]' in caption and 'zero-shot average: the mean over cifar10, cars (imagenet left out' in caption
    assert 'https://github.com/chs20/RobustVLM' in caption, 'the full source, once, in the caption'


def test_same_named_weights_of_different_runs_and_two_attacks_stay_apart():
    rows = [row('cifar10', 0.9, 0.4, 1, pretrained='iter_100.pth', checksum='c' * 64),
            row('cifar10', 0.7, 0.3, 1, pretrained='iter_100.pth', checksum='d' * 64),
            row('cifar10', 0.7, 0.2, 1, pretrained='iter_100.pth', checksum='d' * 64, attack='PGD (10 steps)')]
    keys = [(r.model, r.setting) for r in pivot_table(rows).rows]
    assert keys == [('ViT-B-32 iter_100.pth [cccccccc]', 'clean'), ('ViT-B-32 iter_100.pth [cccccccc]', 'Linf 1/255'),
                    ('ViT-B-32 iter_100.pth [dddddddd]', 'clean'),
                    ('ViT-B-32 iter_100.pth [dddddddd]', f'Linf 1/255, {ATTACK}'),
                    ('ViT-B-32 iter_100.pth [dddddddd]', 'Linf 1/255, PGD (10 steps)')]
    # with the run folders `mmtard results merge` reads them from: named by the folder that tells them apart
    runs = [Path('work_dirs/demo/undefended/4f2a/eval'), Path('work_dirs/demo/single-ard/9c1d/eval')]
    labels = {r.model for r in pivot_table(rows, runs=[runs[0], runs[1], runs[1]]).rows}
    assert labels == {'ViT-B-32 iter_100.pth (undefended)', 'ViT-B-32 iter_100.pth (single-ard)'}


def test_results_table_command_writes_each_format_and_refuses_others(tmp_path):
    write_results(records()[:3], tmp_path / 'runs' / 'a')
    runner = CliRunner()
    for suffix, marker in (('.md', '| model |'), ('.csv', 'model,threat model'), ('.tex', r'\toprule')):
        result = runner.invoke(cli, ['results', 'table', str(tmp_path / 'runs'), '--zoo', 'fare2-vit-l-14',
                                     '-o', str(tmp_path / f'table{suffix}')])
        assert result.exit_code == 0, result.output
        assert marker in (tmp_path / f'table{suffix}').read_text()
    result = runner.invoke(cli, ['results', 'table', str(tmp_path / 'runs'), '-o', str(tmp_path / 'table.xlsx')])
    assert result.exit_code == 2 and '.md' in result.output and '.tex' in result.output
    result = runner.invoke(cli, ['results', 'table', '--zoo', 'fare5-vit-l-14'])
    assert result.exit_code == 2 and "Did you mean 'fare4-vit-l-14'" in ' '.join(result.output.split())
    result = runner.invoke(cli, ['results', 'table', '--zoo', 'all'])
    assert result.exit_code == 0 and result.output.count('quoted:') == 52  # 4 ViT-L x 3 rows + 10 base x 4 rows


def test_interval_cells_carry_their_wilson_half_width(tmp_path):
    """cifar10 clean 0.9 of 1000: 1.959964/1.0038415 * sqrt(0.00009 + 0.0000009604) = 1.862 points;
    robust at 1/255, 0.4 of 100: 1.959964/1.0384146 * sqrt(0.0024 + 0.00009604) = 9.43 points."""
    table = pivot_table(records(), interval=True)
    cells = {(r.model, r.setting): r.values for r in table.rows}
    assert cells[('ViT-B-32 laion2b_s34b_b79k', 'clean')]['cifar10'] == '90.0 ± 1.9'
    assert cells[('ViT-B-32 laion2b_s34b_b79k', 'Linf 1/255')]['cifar10'] == '40 ± 9'
    assert any('Wilson' in note for note in table.notes)
    write_results(records()[:3], tmp_path / 'a')
    result = CliRunner().invoke(cli, ['results', 'table', str(tmp_path / 'a'), '--interval'])
    assert result.exit_code == 0 and '90.0 ± 1.9' in result.output


def test_options_choose_and_order_datasets_and_models():
    table = pivot_table(records(), datasets=['cars', 'cifar10'], models=['ViT-B-32 mine.pt', 'ViT-B-32 laion2b_s34b_b79k'])
    assert table.datasets == ['cars', 'cifar10'] and table.rows[0].model == 'ViT-B-32 mine.pt'
    assert [r.model for r in table.rows].count('ViT-B-32 laion2b_s34b_b79k') == 3
    import pytest

    from mmtard.errors import ConfigError

    with pytest.raises(ConfigError, match="--dataset 'cifar100': .*Did you mean 'cifar10'"):
        pivot_table(records(), datasets=['cifar100'])
    with pytest.raises(ConfigError, match="--model 'ViT-B-32 nine.pt'"):
        pivot_table(records(), models=['ViT-B-32 nine.pt'])


def test_a_prompt_ablation_of_one_model_shares_a_table():
    """The same weights under two prompt sets: rows of their own, labelled by the prompts' fingerprint."""
    import dataclasses

    plain = [dataclasses.replace(r, prompts='1' * 16) for r in records()[:3]]
    ablated = [dataclasses.replace(r, prompts='2' * 16, clean_acc=r.clean_acc - 0.1) for r in records()[:3]]
    labels = {(r.model, r.setting): r.values.get('cifar10') for r in pivot_table(plain + ablated).rows}
    assert labels[('ViT-B-32 laion2b_s34b_b79k [prompts 11111111]', 'clean')] == '90.0'
    assert labels[('ViT-B-32 laion2b_s34b_b79k [prompts 22222222]', 'clean')] == '80.0'
