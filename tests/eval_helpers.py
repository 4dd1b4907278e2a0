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


COLOURS = {'blue': (20, 40, 230), 'red': (230, 30, 20), 'green': (30, 200, 40)}


def image_folder(root, per_class=3, size=(48, 40), colours=COLOURS):
    """A class of plain-coloured images per colour (three by default; bigger than the model's 32 px input)."""
    from PIL import Image

    for name, colour in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new('RGB', size, tuple(min(255, c + 10 * i) for c in colour)).save(root / name / f'{i}.png')
    return root


def spy_class_embeddings(monkeypatch):
    """Record every (class names, templates) an OpenCLIPEncoder builds its zero-shot head from."""
    from mmtard.models.encoders import OpenCLIPEncoder

    calls = []
    original = OpenCLIPEncoder.class_embeddings

    def spy(self, classnames, templates, cache_dir=None):
        calls.append((list(classnames), list(templates)))
        return original(self, classnames, templates, cache_dir=cache_dir)

    monkeypatch.setattr(OpenCLIPEncoder, 'class_embeddings', spy)
    return calls
