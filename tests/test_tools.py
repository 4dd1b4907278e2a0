"""The benchmark and GPU-check tools run end to end on the CPU at tiny size."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / 'configs' / 'mmtard' / 'mmtard_tiny-vit_tiny-clean-robust_pgd3-eps4_100it_shapes.py'


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
