"""Intervals by hand: Wilson half-widths, the chain-level t interval on 1, 2 and 5 runs, the bootstrap against a
plain loop, identical models, and the printed word never claiming more than the printed interval."""
import math

import numpy as np
import pytest

from mmtard.evaluation.intervals import (COVERS_RUNS, COVERS_SAMPLES, Interval, bootstrap_interval, chain_interval,
                                         outcomes, t_quantile_975, wilson_half_width)


def test_two_chains_by_hand():
    """100 samples; chain 0 gains on samples 0-9 (0.10), chain 1 on 0-10 (0.11): the per-chain
    differences' variance is 0.00005, over 2 chains 0.000025; the shared samples' mean differences
    (1 x10, 0.5, 0 x89; mean 0.105) have variance 9.1475 / 99, over 100 samples 0.00092399;
    t(1) = 12.706205, so the half-width is 12.706205 * sqrt(0.00094899) = 0.391423."""
    chain0, chain1 = np.zeros(100), np.zeros(100)
    chain0[:10], chain1[:11] = 1, 1
    result = chain_interval([chain0, chain1])
    half = 12.706205 * math.sqrt(0.000025 + 9.1475 / 99 / 100)
    assert half == pytest.approx(0.391423, abs=1e-6)
    assert result.difference == pytest.approx(0.105)
    assert (result.low, result.high) == (pytest.approx(0.105 - half), pytest.approx(0.105 + half))
    assert result.runs == 2 and result.n == 100 and result.covers == COVERS_RUNS
    assert result.text() == '+10.5 [-28.6, +49.6]' and result.word() == 'tie'


def test_five_chains_by_hand():
    """Per-chain means (.5, 0, 1, .5, .5): variance 0.125, over 5 chains 0.025; the samples' means over
    chains (.6, .4) have variance 0.02, over 2 samples 0.01; t(4) = 2.776445."""
    chains = [np.array(v, dtype=float) for v in ([1, 0], [0, 0], [1, 1], [0, 1], [1, 0])]
    result = chain_interval(chains)
    half = 2.776445 * math.sqrt(0.025 + 0.01)
    assert result.difference == pytest.approx(0.5)
    assert (result.low, result.high) == (pytest.approx(0.5 - half), 1.0)
    assert result.word() == 'tie' and result.text() == '+50.0 [-1.9, +100.0]', 'clipped to the possible range'


def test_one_chain_is_the_sampling_only_normal_interval():
    result = chain_interval([np.array([1., 0, 1, 0, 0, 0, 0, 0])])  # mean 0.25, variance 0.2142857
    half = 1.959964 * math.sqrt(1.5 / 7 / 8)
    assert (result.low, result.high) == (pytest.approx(0.25 - half), pytest.approx(0.25 + half))
    assert result.covers == COVERS_SAMPLES and result.word() == 'tie'


@pytest.mark.parametrize('runs', [1, 2, 5])
def test_identical_models_give_exactly_zero(runs):
    rng = np.random.default_rng(runs)
    a = [(rng.random(200) < 0.6).astype(float) for _ in range(runs)]
    for result in (chain_interval([x - x for x in a]), bootstrap_interval(a, a, paired=True)):
        assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
        assert result.text() == '+0.0 [+0.0, +0.0]' and result.word() == 'tie'


def test_wilson_half_widths_by_hand():
    """p = 0.5, n = 100: z/(1 + z²/n) * sqrt(0.0025 + z²/40000) = 1.959964/1.0384146 * 0.0509514 = 0.096168;
    p = 1, n = 10 stays wide (z²/4n² alone): 1.959964/1.3841459 * 0.0979982 = 0.138766."""
    assert wilson_half_width(0.5, 100) == pytest.approx(0.096168, abs=2e-6)
    assert wilson_half_width(1.0, 10) == pytest.approx(0.138766, abs=2e-6)
    with pytest.raises(ValueError):
        wilson_half_width(0.5, 0)


def test_t_quantiles():
    assert t_quantile_975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile_975(4) == pytest.approx(2.7764, abs=1e-4)
    assert t_quantile_975(30) == pytest.approx(2.0423, abs=1e-4)
    assert t_quantile_975(40) == pytest.approx(2.0211, abs=1e-3)  # the series beyond the table
    assert t_quantile_975(120) == pytest.approx(1.9799, abs=1e-3)
    with pytest.raises(ValueError):
        t_quantile_975(0)


def plain_bootstrap(a, b, draws, rng, paired):
    """The textbook loop: draw the runs (pairs of runs when paired), then the shared samples, and average."""
    values = []
    n = len(a[0])
    for _ in range(draws):
        picks_a = rng.integers(0, len(a), len(a))
        picks_b = picks_a if paired else rng.integers(0, len(b), len(b))
        runs_a, runs_b = [a[i] for i in picks_a], [b[i] for i in picks_b]
        samples = rng.integers(0, n, n)
        values.append(np.mean([r[samples].mean() for r in runs_a]) - np.mean([r[samples].mean() for r in runs_b]))
    return np.percentile(values, [2.5, 97.5])


@pytest.mark.parametrize('runs, paired', [((1, 1), False), ((3, 2), False), ((3, 3), True)])
def test_bootstrap_agrees_with_a_plain_loop(runs, paired):
    rng = np.random.default_rng(7)
    a = [(rng.random(300) < p).astype(float) for p in np.linspace(0.55, 0.65, runs[0])]
    b = [(rng.random(300) < p).astype(float) for p in np.linspace(0.45, 0.5, runs[1])]
    result = bootstrap_interval(a, b, paired=paired)
    low, high = plain_bootstrap(a, b, 1000, np.random.default_rng(1), paired)
    assert result.difference == pytest.approx(np.mean(a) - np.mean(b))
    assert result.low == pytest.approx(low, abs=0.015) and result.high == pytest.approx(high, abs=0.015)
    assert result.covers == (COVERS_SAMPLES if runs == (1, 1) else COVERS_RUNS)


def test_words_follow_the_printed_interval():
    assert Interval(0.01, 0.0004, 0.02, 10, 1, COVERS_SAMPLES).word() == 'tie', 'prints [+0.0, ...]: a tie'
    assert Interval(0.01, 0.0006, 0.02, 10, 1, COVERS_SAMPLES).word() == 'better'
    assert Interval(-0.01, -0.02, -0.0006, 10, 1, COVERS_SAMPLES).word() == 'worse'
    assert Interval(-0.0001, -0.0004, 0.0, 10, 1, COVERS_SAMPLES).text() == '+0.0 [+0.0, +0.0]'


def test_bad_outcomes_and_mismatched_samples_are_refused():
    assert outcomes('0110').tolist() == [0, 1, 1, 0]
    for bits in ('', '012'):
        with pytest.raises(ValueError, match='0s and 1s'):
            outcomes(bits)
    with pytest.raises(ValueError, match='different numbers of samples'):
        chain_interval([np.zeros(3), np.zeros(4)])
    with pytest.raises(ValueError, match='the same ones'):
        bootstrap_interval([np.zeros(3)], [np.zeros(4)])
    with pytest.raises(ValueError, match='as many runs'):
        bootstrap_interval([np.zeros(3)], [np.zeros(3)] * 2, paired=True)
