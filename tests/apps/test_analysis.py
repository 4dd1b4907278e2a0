"""Report arithmetic by hand: paired bootstrap intervals, log readers, steps to target, the job graph."""
import json
import os
import math

import numpy as np
import pytest

from mmtard.apps.analysis import logged_scalars, loss_shares, paired_difference
from mmtard.apps.chain import Stage
from mmtard.apps.jobs import run_jobs
from mmtard.apps.study.efficiency import race, read_curve
from mmtard.errors import ConfigError


def row(bits, seed=0, eps=4.0, indices=None):
    """A result row whose robust (and clean) outcomes are ``bits``."""
    acc = bits.count('1') / len(bits)
    return {'clean_acc': acc, 'clean_correct': bits, 'robust_acc': acc, 'robust_correct': bits, 'eps': eps,
            'model_seed': seed, 'sample_indices': indices if indices is not None else list(range(len(bits)))}


def test_identical_models_differ_by_exactly_zero():
    bits = '0110101101' * 20
    diff = paired_difference({0: row(bits)}, {0: row(bits)}, 4.0)
    assert (diff.difference, diff.low, diff.high) == (0, 0, 0) and diff.word() == 'tie'


def test_every_sample_better_gives_a_degenerate_interval_at_one():
    diff = paired_difference({0: row('1' * 50)}, {0: row('0' * 50)}, 4.0)
    assert (diff.difference, diff.low, diff.high) == (1, 1, 1) and diff.word() == 'better'


def test_one_seed_interval_is_the_normal_interval_of_paired_differences():
    rng = np.random.default_rng(3)
    a = rng.random(400) < 0.55
    b = np.where(rng.random(400) < 0.7, a, rng.random(400) < 0.45)  # correlated, as two models on one sample
    to_bits = lambda mask: ''.join('1' if v else '0' for v in mask)  # noqa: E731
    diff = paired_difference({0: row(to_bits(a))}, {0: row(to_bits(b))}, 4.0)
    d = a.astype(float) - b
    half = 1.959964 * d.std(ddof=1) / math.sqrt(len(d))
    assert diff.difference == pytest.approx(d.mean())
    assert (diff.low, diff.high) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))


def test_seed_spread_widens_the_interval():
    same = {0: row('1' * 30 + '0' * 70, seed=0), 1: row('1' * 30 + '0' * 70, seed=1)}
    stable = {0: row('1' * 40 + '0' * 60, seed=0), 1: row('1' * 40 + '0' * 60, seed=1)}
    spread = {0: row('1' * 30 + '0' * 70, seed=0), 1: row('1' * 50 + '0' * 50, seed=1)}
    narrow, wide = paired_difference(stable, same, 4.0), paired_difference(spread, same, 4.0)
    assert narrow.difference == pytest.approx(0.1) and wide.difference == pytest.approx(0.1)
    assert wide.high - wide.low > narrow.high - narrow.low and wide.runs == 2


def test_unpaired_samples_and_missing_outcomes_are_refused():
    with pytest.raises(ValueError, match='different samples'):
        paired_difference({0: row('10', indices=[1, 2])}, {0: row('10', indices=[1, 3])}, 4.0)
    with pytest.raises(ValueError, match='different samples'):
        paired_difference({0: row('10', seed=0), 1: row('10', seed=1, indices=[5, 6])},
                          {0: row('10', seed=0), 1: row('10', seed=1, indices=[5, 6])}, 4.0)
    old = dict(row('10'), robust_correct='')
    with pytest.raises(ValueError, match='no per-sample outcomes'):
        paired_difference({0: old}, {0: row('00')}, 4.0)
    assert paired_difference({0: row('10')}, {1: row('10', seed=1)}, 4.0) is None


def write_scalars(work_dir, records, tail=''):
    folder = work_dir / '20260101_000000' / 'vis_data'
    folder.mkdir(parents=True)
    (folder / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in records) + tail)


def test_log_reader_skips_a_line_cut_off_by_a_kill_and_shares_add_up(tmp_path):
    write_scalars(tmp_path, [{'loss_robust': 3.0, 'loss_clean': 1.0, 'step': 1},
                             {'loss_robust': 1.0, 'loss_clean': -1.0, 'step': 2}], tail='{"loss_robust": 2.0, "st')
    assert [r['step'] for r in logged_scalars(tmp_path)] == [1, 2]
    assert loss_shares(tmp_path) == {'robust': pytest.approx(4 / 4), 'clean': pytest.approx(0 / 4)}


def test_curve_adds_window_means_into_elapsed_training_time(tmp_path):
    # Logged every 10 iterations with a 10-iteration timer window: 0.5 s and 0.25 s per iteration.
    write_scalars(tmp_path, [
        {'loss': 1.0, 'time': 0.5, 'step': 10}, {'zero_shot/clean_acc': 0.8, 'zero_shot/robust_acc': 0.1, 'step': 10},
        {'loss': 0.9, 'time': 0.25, 'step': 20}, {'zero_shot/clean_acc': 0.7, 'zero_shot/robust_acc': 0.3, 'step': 20},
    ])
    curve = read_curve(tmp_path, interval=10)
    assert curve.iters == [10, 20]
    assert curve.seconds == pytest.approx([5.0, 7.5])
    assert curve.robust == [0.1, 0.3] and curve.clean == [0.8, 0.7]
    assert curve.seconds_per_iter == pytest.approx(7.5 / 20)


def test_race_targets_the_lower_final_so_both_arms_reach_it(tmp_path):
    from mmtard.apps.study.efficiency import Curve

    ard = Curve([10, 20, 30], [1.0, 2.0, 3.0], [0.8] * 3, [0.20, 0.37, 0.40], 0.1)
    mmt = Curve([10, 20, 30], [2.0, 4.0, 6.0], [0.8] * 3, [0.30, 0.33, 0.36], 0.2)
    full = race({'ard': ard, 'mmt': mmt}, seed=0, fraction=1.0)
    assert full.target == pytest.approx(0.36)
    assert full.iters == {'ard': 20, 'mmt': 30} and full.ratio('ard', 'mmt') == pytest.approx(20 / 30)
    assert full.ratio('ard', 'mmt', 'seconds') == pytest.approx(2.0 / 6.0)
    most = race({'ard': ard, 'mmt': mmt}, seed=0, fraction=0.75)  # target 0.27
    assert most.iters == {'ard': 20, 'mmt': 10} and most.ratio('ard', 'mmt') == pytest.approx(2.0)


def record_job(stage, seed, inputs, threads, log):
    log.append((stage.name, seed, sorted(inputs)))
    return (f'run of {stage.name}/{seed}',)


def test_jobs_run_after_their_inputs_and_get_them():
    a, b = Stage('a', 'A', 'x.py', 'base'), Stage('b', 'B', 'x.py', 'teacher', {'model.student.pretrained': 'a'})
    log = []
    done = run_jobs([(b, 0), (a, 0), (b, 1), (a, 1)], record_job, (log,), 1, print)
    assert log.index(('a', 0, [])) < log.index(('b', 0, ['a'])) and log.index(('a', 1, [])) < log.index(('b', 1, ['a']))
    assert done[('b', 1)] == ('run of b/1',)
    with pytest.raises(ConfigError, match="starts from \\['a'\\]"):
        run_jobs([(b, 0)], record_job, (log,), 1, print)


@pytest.mark.parametrize('workers', [1, 2])
def test_jobs_waiting_on_each_other_get_one_error_whatever_the_workers(workers):
    """Two stages that start from each other: the same ConfigError in one process and in the pool."""
    a = Stage('a', 'A', 'x.py', 'teacher', {'model.student.pretrained': 'b'})
    b = Stage('b', 'B', 'x.py', 'teacher', {'model.student.pretrained': 'a'})
    with pytest.raises(ConfigError, match='No job can start: .* wait on each other'):
        run_jobs([(a, 0), (b, 0)], record_job, ([],), workers, print)


def pid_job(stage, seed, inputs, threads):
    return (os.getpid(), sorted(inputs))


def test_jobs_already_done_run_in_this_process_and_the_rest_in_workers():
    """A rerun that only reads back finished work starts no worker (each costs seconds of imports)."""
    a, b = Stage('a', 'A', 'x.py', 'base'), Stage('b', 'B', 'x.py', 'teacher', {'model.student.pretrained': 'a'})
    everything = run_jobs([(b, 0), (a, 0)], pid_job, (), 2, print, already_done=lambda *job: True)
    assert everything == {('a', 0): (os.getpid(), []), ('b', 0): (os.getpid(), ['a'])}
    only_a = run_jobs([(b, 0), (a, 0)], pid_job, (), 2, print, already_done=lambda stage, seed, inputs: stage.name == 'a')
    assert only_a[('a', 0)][0] == os.getpid() != only_a[('b', 0)][0]
    assert only_a[('b', 0)][1] == ['a']
