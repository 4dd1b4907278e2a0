"""The benchmark and GPU-check tools run end to end on the CPU at tiny size."""
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from shared_inputs import TINY

REPO = Path(__file__).resolve().parents[2]


def run_tool(*args):
    done = subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, 'CUDA_VISIBLE_DEVICES': '', 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1'})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_gpu_check_runs_at_tiny_size_on_the_cpu(tmp_path):
    out = run_tool(REPO / 'tools' / 'gpu_check.py', '--steps', '1', '--json', tmp_path / 'report.json')
    report = json.loads((tmp_path / 'report.json').read_text())
    assert report['device'] == 'cpu' and report['size'] == 'tiny'
    rows = {(row['precision'], row['grad_checkpointing']): row for row in report['precision']}
    assert sorted(rows) == [('bf16', False), ('bf16', True), ('fp32', False), ('fp32', True)]
    assert all(row['images_per_s'] > 0 and row['parts']['attack'] > 0 for row in rows.values())
    # activation memory: bf16 halves what fp32 keeps; checkpointing keeps less than no checkpointing
    assert rows[('bf16', False)]['student_activations_mib'] < 0.75 * rows[('fp32', False)]['student_activations_mib']
    assert rows[('fp32', True)]['student_activations_mib'] < rows[('fp32', False)]['student_activations_mib']
    assert report['ddp']['ok'] and report['ddp']['backend'] == 'gloo'
    assert report['export']['ok'] and report['export']['max_abs_logit_difference'] < 1e-4
    assert '1-process DDP step (gloo): ok' in out and 'export round trip on cpu: ok' in out
    sharded = report['sharded_eval']
    assert sharded['ok'] and sharded['backend'] == 'gloo' and len(sharded['rows']['single']) == 1


def test_benchmark_step_prints_the_release_comparison(tmp_path):
    out = run_tool(REPO / 'tools' / 'benchmark_step.py', TINY, '--compare-release', '--steps', '1',
                   '--batch-size', '4')
    assert 'release-equivalent' in out and 'mmtard is' in out and 'x faster' in out
    assert 'teacher clean forward' in out


def test_release_equivalent_step_has_the_same_loss_with_three_teacher_forwards_against_one():
    spec = importlib.util.spec_from_file_location('benchmark_step', REPO / 'tools' / 'benchmark_step.py')
    tool = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
    spec.loader.exec_module(tool)
    model = tool.build_model(str(TINY), ['model.cache_clean_teacher_outputs=True', 'model.attack.random_start=False'],
                             torch.device('cpu'), random_weights=True)
    images, labels, index = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]), torch.arange(4)
    model.loss(images, labels, index)  # an earlier epoch saw these images: their clean-teacher outputs are cached
    forwards = []
    for name, teacher in model.teachers.items():
        teacher.register_forward_hook(lambda module, args, out, name=name: forwards.append(name))
    student_passes = []
    model.student.register_forward_hook(lambda module, args, out: student_passes.append(len(args[0])))
    ours = model.loss(images, labels, index)
    assert forwards == ['robust'] and student_passes[-1] == 8, 'cached clean teacher; x and x_adv in one pass'
    forwards.clear()
    del student_passes[:]
    release = tool.release_equivalent_loss(model, images, labels)
    assert sorted(forwards) == ['clean', 'clean', 'robust'] and student_passes[-2:] == [4, 4]
    torch.testing.assert_close(release['loss'], ours['loss'], rtol=1e-5, atol=1e-6)


#: Where tools/benchmark_eval.py looks for the reference AutoAttack (a clone of fra31/auto-attack, never vendored).
REFERENCE_AUTOATTACK = Path(os.environ.get('MMTARD_REFERENCE_AUTOATTACK', '/tmp/auto-attack'))


@pytest.mark.skipif(not (REFERENCE_AUTOATTACK / 'autoattack').is_dir(),
                    reason=f'the reference AutoAttack is not at {REFERENCE_AUTOATTACK} (git clone '
                           f'https://github.com/fra31/auto-attack there, or set MMTARD_REFERENCE_AUTOATTACK)')
def test_benchmark_eval_runs_both_implementations_side_by_side():
    out = run_tool(REPO / 'tools' / 'benchmark_eval.py', '--reference', REFERENCE_AUTOATTACK, '--samples', '4',
                   '--eps', '4', '--n-iter', '2', '--n-targets', '3', '--repeats', '1')
    assert 'eps 4/255: mmtard' in out and 'speed-up' in out and 'per-sample agreement' in out
    assert 'images through the model' in out and 'backward' in out and 'host reads' in out


def test_benchmark_eval_says_how_to_get_the_reference(tmp_path):
    done = subprocess.run([sys.executable, REPO / 'tools' / 'benchmark_eval.py', '--reference', tmp_path / 'none'],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert done.returncode != 0 and 'git clone https://github.com/fra31/auto-attack' in done.stderr
    assert 'Traceback' not in done.stderr


@pytest.fixture
def tiny_folder_config(tmp_path):
    config = tmp_path / 'tiny_folder.py'
    config.write_text(f'_base_ = [{str(TINY)!r}]\ntrain_dataloader = dict(dataset=dict(_delete_=True, '
                      f"type='ImageFolderDataset', root='replaced', split='train', image_size=32))\n"
                      'model = dict(cache_clean_teacher_outputs=True)\n')
    return config


def printed_ratios(out: str, label: str) -> tuple:
    """The median ratio printed on ``label``'s line, and the repeats' ratios it is the median of."""
    line = next(line for line in out.splitlines() if line.strip().startswith(label))
    median, repeats = re.search(r'(\d+\.\d\d)x (?:on the loop )?\(repeats: ([^)]*)\)', line).groups()
    return float(median), [float(r.rstrip('x')) for r in repeats.split(', ')]


def test_benchmark_run_times_each_epoch_beside_the_release_equivalent_run(tiny_folder_config):
    out = run_tool(REPO / 'tools' / 'benchmark_run.py', tiny_folder_config, '--release-config', tiny_folder_config,
                   '--images', '4', '--release-steps', '1', '--repeats', '2')
    assert 'warm step: mmtard' in out and '2 epochs x 2 steps at batch 2, median of 2 repeats' in out
    assert out.count('mmtard steps (s): ') == 2 and out.count('release steps (s): ') == 2
    for label in ('epoch 1 (cache filling)', 'epoch 2 (cache read)', 'whole commands', 'training loop'):
        median, repeats = printed_ratios(out, label)
        assert len(repeats) == 2 and median == pytest.approx(sum(repeats) / 2, abs=0.006)
    assert 'x on the loop' in out


def test_benchmark_run_with_a_prefilled_cache_counts_its_time(tiny_folder_config):
    out = run_tool(REPO / 'tools' / 'benchmark_run.py', tiny_folder_config, '--release-config', tiny_folder_config,
                   '--images', '4', '--release-steps', '1', '--repeats', '1', '--cache-teacher')
    assert 'cache filled by `mmtard cache-teacher` before training' in out
    assert 'epoch 1 (cache read)' in out and 'cache filling' not in out
    median, repeats = printed_ratios(out, 'mmtard cache-teacher + training loop')
    assert repeats == [median]


def test_benchmark_layers_prints_torch_beside_the_fast_equivalents():
    out = run_tool(REPO / 'tools' / 'benchmark_layers.py', '--repeats', '1')
    rows = [line for line in out.splitlines() if 'patch embedding' in line or 'self-attention' in line]
    assert len(rows) == 12  # 2 towers x 2 layers x 3 passes
    ratios = [float(x) for x in re.findall(r'(\d+\.\d+)x', out)]
    assert len(ratios) == 12 and all(r > 0 for r in ratios)
