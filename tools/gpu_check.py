"""The real-scale path on a GPU: throughput and memory per precision, a DDP step, and the export round trip.

    python tools/gpu_check.py [--size paper|tiny] [--batch-size N] [--steps 3] [--json FILE]

1. Builds the paper's MMT-ARD config (ViT-B-32 student, two ViT-L-14 teachers) with random weights
   and, for fp32 and bf16 (``--amp``), without and with the student's gradient checkpointing, runs
   training steps (tools/benchmark_step.py) and prints images/s, the peak of
   ``torch.cuda.max_memory_allocated``, the activation memory one student forward keeps for
   backward, and where the step's time goes.
2. Trains the tiny config for two iterations under torchrun with one process (nccl on a GPU, gloo
   on a CPU), as a multi-GPU run would start.
3. Exports that run's student (``mmtard export --format open_clip``), loads it with open_clip alone
   on the device and compares its zero-shot logits with mmtard's model.
4. Evaluates the tiny model under torchrun with one process per GPU (nccl; one gloo process on a
   CPU), its batches shared out as `torchrun -m mmtard eval` does, and compares the rows with one
   process's on the same device.

With no GPU it runs everything at tiny size on the CPU (the test suite does), where peak memory is
not measured. Exit status 1 when the DDP step, the export round trip or the sharded evaluation fails.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_step import CLASSES, build_model, measure, saved_activation_bytes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {'paper': REPO / 'configs/mmtard/mmtard_vit-b-32_vit-l-14-ce-pmg-aft_pgd10-eps4_5000it-b512_imagenet.py',
           'tiny': REPO / 'configs/mmtard/mmtard_tiny-vit_tiny-clean-robust_pgd3-eps4_100it_shapes.py'}
#: Two iterations of the tiny config, small enough for a CPU.
SHORT_RUN = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
             'train_dataloader.batch_size=8', 'train_dataloader.dataset.num_samples=32',
             'val_dataloader.dataset.num_samples=16', 'model.attack.steps=1', 'model.val_attack.steps=1']


def precision_rows(size: str, device: torch.device, batch_size: int, steps: int, warmup: int) -> List[Dict[str, Any]]:
    """One row per (precision, gradient checkpointing): throughput, memory and the step's parts."""
    rows = []
    for checkpointing in (False, True):
        options = ['model.student.grad_checkpointing=True'] if checkpointing else []
        model = build_model(str(CONFIGS[size]), options, device, random_weights=True)
        image_size = model.student.image_size
        for amp in (False, True):
            if device.type == 'cuda':
                torch.cuda.reset_peak_memory_stats(device)
            times = measure(model, device, batch_size, steps, warmup, amp=amp)['mmtard']
            images = torch.rand(batch_size, 3, image_size, image_size, device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                activations = saved_activation_bytes(model, lambda: model.student(images).sum())
            rows.append({
                'precision': 'bf16' if amp else 'fp32', 'grad_checkpointing': checkpointing,
                'images_per_s': times.images_per_second, 'step_ms': 1000 * times.step,
                'peak_memory_gib': torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == 'cuda' else None,
                'student_activations_mib': activations / 2 ** 20,
                'parts': {name: value / times.step for name, value in times.parts.items()}})
        del model
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def ddp_step(work_dir: Path) -> Dict[str, Any]:
    """Two iterations of the tiny config under torchrun with one process; its checkpoint."""
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=1', f'--master_port={free_port()}',
               '-m', 'mmtard', 'train', str(CONFIGS['tiny']), '--launcher', 'pytorch', '--work-dir', str(work_dir)]
    for option in SHORT_RUN:
        command += ['-o', option]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})
    checkpoint = work_dir / 'iter_2.pth'
    return {'ok': done.returncode == 0 and checkpoint.is_file(),
            'backend': 'nccl' if torch.cuda.is_available() else 'gloo',
            'checkpoint': str(checkpoint), 'log_tail': (done.stdout + done.stderr)[-2000:]}


#: The benchmark of the sharded evaluation: synthetic shapes (rendered, never downloaded), 4 batches.
EVAL_CONFIG = """evaluation = dict(datasets=[dict(name='shapes', dataset=dict(type='ShapesDataset', split='test',
    classes='held_out', num_samples=32, cache_dir={cache!r}))], n_clean=32, n_robust=32, eps=[2], batch_size=8,
    attack=dict(type='AutoAttack', version='custom', n_iter=3))
"""


def _accuracies(records: List[Any]) -> List[tuple]:
    return [(r.dataset, r.eps, r.clean_acc, r.robust_acc) for r in records]


def sharded_evaluation(scratch: Path) -> Dict[str, Any]:
    """The tiny model evaluated by one process per GPU under torchrun (nccl; one gloo process on a CPU)
    and by this process alone: the accuracies must be equal, every batch's attack being seeded by the
    batch, not the process."""
    from mmtard.apis.eval_progress import EvaluationProgress

    from mmtard.apis.eval_flags import EvalFlags
    from mmtard.apis.evaluate import evaluate
    from mmtard.evaluation.results import read_results
    from mmtard.models.encoders import OpenCLIPEncoder

    torch.manual_seed(0)
    weights = scratch / 'tiny.pt'
    torch.save(OpenCLIPEncoder('mmtard-tiny-vit').model.state_dict(), weights)
    config = scratch / 'eval_shapes.py'
    config.write_text(EVAL_CONFIG.format(cache=str(scratch / 'shapes')))
    processes = max(torch.cuda.device_count(), 1)
    done = subprocess.run([sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={processes}',
                           f'--master_port={free_port()}', '-m', 'mmtard', 'eval', str(config), '--model',
                           'mmtard-tiny-vit', '--pretrained', str(weights), '--launcher', 'pytorch', '--out',
                           str(scratch / 'sharded')], cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})
    sharded = (_accuracies(read_results(scratch / 'sharded'))
               if done.returncode == 0 and (scratch / 'sharded' / 'results.json').is_file() else None)
    single = _accuracies(evaluate(str(config), out_dir=scratch / 'single', progress=EvaluationProgress(),
                                  flags=EvalFlags(model='mmtard-tiny-vit', pretrained=str(weights))))
    return {'ok': sharded == single, 'processes': processes, 'backend': 'nccl' if torch.cuda.is_available() else 'gloo',
            'rows': {'sharded': sharded, 'single': single}, 'log_tail': (done.stdout + done.stderr)[-2000:]}


def export_round_trip(checkpoint: Path, out_dir: Path, device: torch.device) -> Dict[str, Any]:
    """open_clip alone, on ``device``, gives the zero-shot logits of mmtard's model for the exported student."""
    import open_clip
    import torch.nn.functional as F

    from mmtard.apis.evaluate import load_model_checkpoint
    from mmtard.apis.export import export
    from mmtard.config import resolve_config
    from mmtard.registry import MODELS

    exported = export(checkpoint, 'open_clip', out_dir / 'student.safetensors')
    model = MODELS.build(resolve_config(CONFIGS['tiny']).model)
    load_model_checkpoint(model, checkpoint)
    model = model.to(device).eval()
    templates = ['a photo of a {}.']
    model.set_classes(CLASSES, templates)
    encoder = model.student
    clip = open_clip.create_model(encoder.arch, pretrained=str(exported.path), device=device).eval()
    tokenizer = open_clip.get_tokenizer(encoder.arch)
    images = torch.rand(8, 3, encoder.image_size, encoder.image_size, generator=torch.Generator().manual_seed(0))
    images = images.to(device)
    mean = torch.tensor(encoder.pixel_mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(encoder.pixel_std, device=device).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = model.student_logits(images)
        text = F.normalize(clip.encode_text(tokenizer([templates[0].format(c) for c in CLASSES]).to(device)), dim=-1)
        theirs = model.logit_scale * F.normalize(clip.encode_image((images - mean) / std), dim=-1) @ text.t()
    difference = float((ours - theirs).abs().max())
    return {'ok': difference < 1e-4, 'max_abs_logit_difference': difference, 'file': str(exported.path)}


def print_report(console: Console, size: str, device: torch.device, batch_size: int, report: Dict[str, Any]) -> None:
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'
    rows = report['precision']
    parts = sorted({part for row in rows for part in row['parts']}, key=lambda p: -rows[0]['parts'].get(p, 0.0))
    table = Table(title=f'{CONFIGS[size].name} | random weights | batch {batch_size} | {name}')
    for column in ('precision', 'grad ckpt', 'images/s', 'step ms', 'peak GiB', 'student act. MiB', *parts):
        table.add_column(column, justify='left' if column == 'precision' else 'right')
    for row in rows:
        peak = 'n/a' if row['peak_memory_gib'] is None else f"{row['peak_memory_gib']:.2f}"
        table.add_row(row['precision'], 'on' if row['grad_checkpointing'] else 'off', f"{row['images_per_s']:.2f}",
                      f"{row['step_ms']:.0f}", peak, f"{row['student_activations_mib']:.1f}",
                      *(f"{100 * row['parts'].get(part, 0.0):.0f}%" for part in parts))
    console.print(table)
    ddp, trip = report['ddp'], report['export']
    console.print(f"1-process DDP step ({ddp['backend']}): {'ok' if ddp['ok'] else 'FAILED'}")
    if not ddp['ok']:
        console.print(ddp['log_tail'], markup=False, highlight=False)
    if trip is not None:
        console.print(f"export round trip on {device}: {'ok' if trip['ok'] else 'FAILED'} "
                      f"(max |logit difference| {trip['max_abs_logit_difference']:.2e})")
    sharded = report['sharded_eval']
    console.print(f"evaluation sharded over {sharded['processes']} process(es) ({sharded['backend']}) equals one "
                  f"process's: {'ok' if sharded['ok'] else 'FAILED'} {sharded['rows']}", highlight=False)
    if not sharded['ok']:
        console.print(sharded['log_tail'], markup=False, highlight=False)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', choices=sorted(CONFIGS), default='paper' if torch.cuda.is_available() else 'tiny')
    parser.add_argument('--batch-size', type=int, default=None, help='default: 32 (paper), 8 (tiny)')
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--json', type=Path, default=None, help='also write the figures to this file')
    args = parser.parse_args(argv)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    batch_size = args.batch_size or (32 if args.size == 'paper' else 8)
    report: Dict[str, Any] = {'device': str(device), 'size': args.size, 'batch_size': batch_size}
    report['precision'] = precision_rows(args.size, device, batch_size, args.steps, args.warmup)
    with tempfile.TemporaryDirectory(prefix='mmtard-gpu-check-') as scratch:
        report['ddp'] = ddp_step(Path(scratch) / 'ddp')
        report['export'] = (export_round_trip(Path(report['ddp']['checkpoint']), Path(scratch), device)
                            if report['ddp']['ok'] else None)
        report['sharded_eval'] = sharded_evaluation(Path(scratch))
    print_report(Console(width=200), args.size, device, batch_size, report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    passed = report['ddp']['ok'] and report['export'] and report['export']['ok'] and report['sharded_eval']['ok']
    return 0 if passed else 1


if __name__ == '__main__':
    sys.exit(main())
