"""Helpers shared by evaluation tests (a module of its own: `from conftest import` is ambiguous)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Optional, Tuple

from mmtard.apis.eval_progress import EvaluationProgress
from mmtard.evaluation.benchmark import BatchEvent, Plan
from mmtard.evaluation.results import BenchmarkResult

STUDENT = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=None)
MODEL = dict(type='CleanFinetune', student=STUDENT)


def write_config(path: Path, text: str) -> Path:
    path.write_text(f'model = {MODEL!r}\n' + text)
    return path


class Recorded(EvaluationProgress):
    """Keeps what an evaluation reports; ``on_batch`` (e.g. one that raises to stop it) sees every batch."""

    def __init__(self, on_batch: Optional[Callable[[BatchEvent], None]] = None) -> None:
        self.warnings: List[str] = []
        self.plans: List[Tuple[Plan, Path]] = []
        self.batches: List[BatchEvent] = []
        self.finished_in: List[Path] = []
        self.on_batch = on_batch

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def planned(self, plan: Plan, out_dir: Path) -> None:
        self.plans.append((plan, out_dir))

    def batch(self, event: BatchEvent) -> None:
        self.batches.append(event)
        if self.on_batch is not None:
            self.on_batch(event)

    def finished(self, rows: List[BenchmarkResult], out_dir: Path) -> None:
        self.finished_in.append(out_dir)
