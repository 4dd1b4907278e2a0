"""Evaluation under torchrun: 2 gloo processes on the CPU (on one node, or on two nodes of one process on
127.0.0.1) give the 1-process rows, and their partial files resume."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mmtard.apis.evaluate import evaluate
from mmtard.cli.eval import eval_command
from mmtard.errors import ConfigError
from mmtard.evaluation.distributed import Shard, seeded_initialisation
from mmtard.evaluation.results import read_results
from mmtard.models.encoders import OpenCLIPEncoder

from eval_helpers import Recorded, image_folder, write_config
from shared_inputs import free_port, two_nodes

REPO = Path(__file__).resolve().parents[2]


def without_times(records):
    return [dataclasses.replace(r, time_s=0.0) for r in records]


def test_round_robin_gives_every_batch_to_exactly_one_rank():
    shards = [Shard(rank, 3) for rank in range(3)]
    assert [[s.owns(b) for s in shards].count(True) for b in range(10)] == [1] * 10
    assert [b for b in range(7) if shards[1].owns(b)] == [1, 4]
    assert Shard().gather({0: 'a'}) == {0: 'a'}


def test_two_gloo_processes_give_the_one_process_rows_and_resume_with_one(tmp_path, shapes, checkpoint, quiet):
    config = write_config(tmp_path / 'eval_cfg.py', f"evaluation = dict(datasets=[dict(name='shapes', "
                                                    f"dataset={shapes(64)!r})], n_clean=32, n_robust=24, eps=[1, 2], "
                                                    f"batch_size=8, attack=dict(type='AutoAttack', version='custom', "
                                                    f"n_iter=3))\n")
    two = tmp_path / 'two'
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(REPO)}
    done = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                           f'--master_port={free_port()}', '-m', 'mmtard', 'eval', str(config), '--checkpoint',
                           checkpoint, '--out', str(two), '--launcher', 'pytorch'],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    one = evaluate(str(config), checkpoint=checkpoint, out_dir=tmp_path / 'one', progress=quiet)
    assert without_times(read_results(two)) == without_times(one)
    assert 0 < one[0].robust_acc < one[0].clean_acc
    # rank 1 stored the odd batches: 2 of 4 clean, and per eps 1 of 3 robust
    rank1 = [json.loads(line)['key'] for line in (two / 'partial.rank1.jsonl').read_text().splitlines()]
    assert sorted((k['stage'], k['eps'], k['batch']) for k in rank1) == [
        ('clean', 0.0, 1), ('clean', 0.0, 3), ('robust', 1.0, 1), ('robust', 2.0, 1)]
    assert json.loads((two / 'evaluation.json').read_text())['processes'] == 2

    # one process resumes the two's folder after rank 0's file is lost: it recomputes rank 0's batches only
    (two / 'partial.jsonl').unlink()
    (two / 'results.json').unlink()
    recorded = Recorded()
    resumed = evaluate(str(config), checkpoint=checkpoint, out_dir=two, progress=recorded)
    events = recorded.batches
    assert [(e.stage, e.batch) for e in events if e.reused] == [('clean', 1), ('clean', 3), ('robust', 1),
                                                                ('robust', 1)]
    assert without_times(resumed) == without_times(one)


def test_two_nodes_evaluate_as_one_process(tmp_path, shapes, checkpoint, quiet):
    config = write_config(tmp_path / 'eval_cfg.py', f"evaluation = dict(datasets=[dict(name='shapes', "
                                                    f"dataset={shapes(48)!r})], n_clean=24, n_robust=16, eps=[2], "
                                                    f"batch_size=8, attack=dict(type='AutoAttack', version='custom', "
                                                    f"n_iter=2))\n")
    two_nodes('-m', 'mmtard', 'eval', str(config), '--checkpoint', checkpoint, '--out', str(tmp_path / 'nodes'),
              '--launcher', 'pytorch')
    one = evaluate(str(config), checkpoint=checkpoint, out_dir=tmp_path / 'one', progress=quiet)
    assert without_times(read_results(tmp_path / 'nodes')) == without_times(one)
    assert json.loads((tmp_path / 'nodes' / 'evaluation.json').read_text())['processes'] == 2


def test_random_weights_are_one_model_in_every_process(tmp_path):
    """--model without --pretrained under torchrun: both processes draw the model one process draws
    (from the evaluation seed), so the rows are one model's, checksum and accuracy alike."""
    folder = image_folder(tmp_path / 'colours')
    args = ['--model', 'mmtard-tiny-vit', '--dataset', str(folder), '--eps', '0', '--n-clean', '9']
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(REPO)}
    done = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                           f'--master_port={free_port()}', '-m', 'mmtard', 'eval', *args, '--out',
                           str(tmp_path / 'two'), '--launcher', 'pytorch'],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = CliRunner().invoke(eval_command, args + ['--out', str(tmp_path / 'one')])
    assert result.exit_code == 0, result.output
    assert without_times(read_results(tmp_path / 'two')) == without_times(read_results(tmp_path / 'one'))


def test_a_random_model_is_drawn_from_the_seed_and_leaves_the_callers_generator_alone():
    state = torch.get_rng_state()
    checksums = []
    for seed in (3, 3, 4):
        with seeded_initialisation(seed):
            checksums.append(OpenCLIPEncoder('mmtard-tiny-vit').model_checksum())
    assert checksums[0] == checksums[1] != checksums[2]
    assert torch.equal(torch.get_rng_state(), state)


class TwoRanks(Shard):
    """Rank 0 of two whose other rank built the model of checksum ``'b' * 64``."""

    def gather(self, values):
        return {**values, 1: 'b' * 64}


def test_processes_with_different_models_are_refused():
    TwoRanks(0, 2).check_same_model('b' * 64)
    with pytest.raises(ConfigError, match='rank 0: aaaaaaaaaaaa, rank 1: bbbbbbbbbbbb'):
        TwoRanks(0, 2).check_same_model('a' * 64)
