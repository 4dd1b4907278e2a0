"""`mmtard results compare`: intervals against an independent paired bootstrap, A vs A, several seeds,
refused rows and outputs."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from mmtard.cli.main import cli
from mmtard.evaluation.results import BenchmarkResult, write_results

N, N_ROBUST = 300, 120


def to_bits(mask):
    return ''.join('1' if v else '0' for v in mask)


def evaluation(folder, clean, robust, indices=None, seed=0):
    """An evaluation folder whose rows hold the given per-sample outcomes (clean over N, robust over N_ROBUST at
    2/255 and 4/255)."""
    rows = [BenchmarkResult(dataset='cifar10', split='test', task='classification', n=N, n_robust=N_ROBUST, eps=eps,
                            attack='APGD-CE', clean_acc=float(clean.mean()), robust_acc=float(robust[eps].mean()),
                            sample_indices=list(indices if indices is not None else range(N_ROBUST)), seed=seed,
                            sampling='random', clean_correct=to_bits(clean), robust_correct=to_bits(robust[eps]))
            for eps in (2.0, 4.0)]
    write_results(rows, folder)
    return folder


@pytest.fixture
def two_models(tmp_path):
    rng = np.random.default_rng(0)
    clean_a = rng.random(N) < 0.8
    clean_b = np.where(rng.random(N) < 0.8, clean_a, rng.random(N) < 0.7)
    robust_a = {eps: rng.random(N_ROBUST) < p for eps, p in ((2.0, 0.5), (4.0, 0.3))}
    robust_b = {eps: np.where(rng.random(N_ROBUST) < 0.6, robust_a[eps], rng.random(N_ROBUST) < 0.3) for eps in robust_a}
    a = evaluation(tmp_path / 'a', clean_a, robust_a)
    b = evaluation(tmp_path / 'b', clean_b, robust_b)
    return a, b, (clean_a, robust_a), (clean_b, robust_b)


def independent_bootstrap(x, y, draws=3000, seed=11):
    rng = np.random.default_rng(seed)
    d = x.astype(float) - y
    values = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(draws)]
    return np.percentile(values, [2.5, 97.5])


def test_intervals_agree_with_an_independent_paired_bootstrap(two_models, tmp_path):
    a, b, (clean_a, robust_a), (clean_b, robust_b) = two_models
    out = tmp_path / 'cmp.json'
    result = CliRunner().invoke(cli, ['results', 'compare', str(a), str(b), '-o', str(out)])
    assert result.exit_code == 0, result.output
    rows = {(row['dataset'], row['eps']): row for row in json.loads(out.read_text())}
    assert set(rows) == {('cifar10', 0.0), ('cifar10', 2.0), ('cifar10', 4.0)}
    for (dataset, eps), (x, y) in {('cifar10', 0.0): (clean_a, clean_b), ('cifar10', 2.0): (robust_a[2.0], robust_b[2.0]),
                                   ('cifar10', 4.0): (robust_a[4.0], robust_b[4.0])}.items():
        row = rows[(dataset, eps)]
        assert row['a'] == pytest.approx(x.mean()) and row['b'] == pytest.approx(y.mean())
        assert row['difference'] == pytest.approx(x.mean() - y.mean()) and row['n'] == len(x)
        low, high = independent_bootstrap(x, y)
        assert abs(row['low'] - low) < 0.01 and abs(row['high'] - high) < 0.01, 'within one point'


def test_a_model_against_itself_is_exactly_zero(two_models):
    a = two_models[0]
    result = CliRunner().invoke(cli, ['results', 'compare', str(a), str(a / 'results.json')])
    assert result.exit_code == 0, result.output
    assert result.output.count('+0.0 [+0.0, +0.0]') == 3 and '| tie |' in result.output


def test_several_seeds_a_side_and_paired_seeds(tmp_path):
    rng = np.random.default_rng(1)
    for side, p in (('a', 0.7), ('b', 0.6)):
        for seed in range(3):
            clean = rng.random(N) < p
            evaluation(tmp_path / side / f'seed{seed}', clean, {2.0: clean[:N_ROBUST], 4.0: clean[:N_ROBUST]})
    result = CliRunner().invoke(cli, ['results', 'compare', str(tmp_path / 'a'), str(tmp_path / 'b'),
                                      '-o', str(tmp_path / 'c.csv')])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / 'c.csv').read_text().splitlines()
    assert lines[0].startswith('dataset,eps,a,b,difference,low,high,n,runs_a,runs_b')
    assert all(line.split(',')[8:10] == ['3', '3'] for line in lines[1:])
    paired = CliRunner().invoke(cli, ['results', 'compare', str(tmp_path / 'a'), str(tmp_path / 'b' / 'seed0'),
                                      '--paired'])
    assert paired.exit_code != 0 and 'A has 3 evaluations and B 1' in paired.output


def test_mismatched_samples_are_refused_with_a_reason(two_models, tmp_path):
    a, _, (clean_a, robust_a), _ = two_models
    other = evaluation(tmp_path / 'other', clean_a, robust_a, indices=range(1, N_ROBUST + 1))
    result = CliRunner().invoke(cli, ['results', 'compare', str(a), str(other)])
    assert result.exit_code == 0, result.output
    assert 'not compared cifar10 at 2/255: the evaluations scored different samples' in ' '.join(result.output.split())
    assert result.output.count('+0.0 [+0.0, +0.0]') == 1, 'the clean row still pairs'
    shifted = evaluation(tmp_path / 'shifted', clean_a, robust_a, indices=range(1, N_ROBUST + 1), seed=3)
    result = CliRunner().invoke(cli, ['results', 'compare', str(a), str(shifted)])
    assert result.exit_code != 0 and 'Nothing to compare' in result.output and 'Traceback' not in result.output


def test_outputs_are_never_written_over_silently(two_models, tmp_path):
    a, b = two_models[:2]
    out = tmp_path / 'cmp.md'
    out.write_text('mine')
    result = CliRunner().invoke(cli, ['results', 'compare', str(a), str(b), '-o', str(out)])
    assert result.exit_code != 0 and '--overwrite' in result.output and out.read_text() == 'mine'
    assert CliRunner().invoke(cli, ['results', 'compare', str(a), str(b), '-o', str(out), '--overwrite']).exit_code == 0
    assert out.read_text().startswith('| dataset |')
    own = CliRunner().invoke(cli, ['results', 'compare', str(a), str(b), '-o', str(a / 'results.md'), '--overwrite'])
    assert own.exit_code != 0 and 'would replace a file of the evaluation' in own.output
    wrong = CliRunner().invoke(cli, ['results', 'compare', str(a), str(b), '-o', str(tmp_path / 'x.txt')])
    assert wrong.exit_code != 0 and '.md, .csv, .json' in wrong.output
