"""A tiny trained zero-shot model and benchmark configs for the evaluation and command-line tests (CPU,
seconds), shared by every test folder (tests/conftest.py loads this module as a pytest plugin).

Robust accuracy of a random model is ~0 (it is ~chance clean), which would let a broken attack or
a broken resume pass unnoticed. So the tiny ViT CLIP gets a linear probe: its image projection is
fitted with cross-entropy on the zero-shot logits of frozen features (a second of CPU), giving
clean accuracy well above chance and a robust accuracy that falls gradually with eps.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator

import pytest
import torch
import torch.nn.functional as F
from eval_helpers import MODEL
from mmengine.config import Config

from mmtard.datasets import ShapesDataset
from mmtard.registry import MODELS


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """The tiny model is fastest on one thread, and two threads on a busy 2-core machine spin in
    OpenMP barriers (measured 10-40x slower); the setting is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def one_thread() -> Iterator[None]:
    """One torch thread for a whole test module (evaluation tests use it throughout)."""
    with single_thread():
        yield


@pytest.fixture(scope='session')
def shapes_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp('shapes_cache'))


@pytest.fixture(scope='session')
def shapes(shapes_cache) -> Callable[..., Dict[str, Any]]:
    """``shapes(num_samples, split, classes)``: a ShapesDataset config rendered once into the session cache."""

    def make(num_samples: int = 64, split: str = 'test', classes: str = 'held_out') -> Dict[str, Any]:
        return dict(type='ShapesDataset', split=split, classes=classes, num_samples=num_samples,
                    cache_dir=shapes_cache)

    return make


def linear_probe(model: torch.nn.Module, cache: str) -> None:
    """Fit the student's image projection (CE on zero-shot logits of frozen features)."""
    encoder = model.student
    data = ShapesDataset('train', classes='held_out', num_samples=1024, cache_dir=cache)
    weights = encoder.class_embeddings(data.classnames, data.templates)
    images = torch.stack([data[i]['inputs'] for i in range(len(data))])
    labels = torch.as_tensor(data.labels)
    visual = encoder.model.visual
    proj, visual.proj = visual.proj, None
    with torch.no_grad():
        features = encoder(images)  # normalised pooled features: normalize(f P) is the same with or without their norm
    visual.proj = proj
    fitted = proj.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([fitted], lr=2e-2)
    for _ in range(200):
        loss = F.cross_entropy(100 * F.normalize(features @ fitted, dim=-1) @ weights.T, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    proj.data.copy_(fitted.detach())


@pytest.fixture(scope='session')
def checkpoint(tmp_path_factory, shapes_cache) -> str:
    """An mmengine-format checkpoint of the tiny CleanFinetune model after the linear probe."""
    torch.manual_seed(0)
    model = MODELS.build(MODEL)
    with single_thread():  # session fixtures start before the module's one_thread
        linear_probe(model, shapes_cache)
    path = tmp_path_factory.mktemp('checkpoint') / 'iter_1.pth'
    torch.save({'meta': {'iter': 1}, 'state_dict': model.state_dict()}, path)
    return str(path)


@pytest.fixture
def make_config(tmp_path, shapes) -> Callable[..., Config]:
    """``make_config(**evaluation)``: the tiny model and a small, cheap benchmark on shapes."""

    def make(**evaluation: Any) -> Config:
        settings = dict(datasets=[dict(name='shapes', dataset=shapes())], n_clean=32, n_robust=16,
                        eps=[2], batch_size=8, attack=dict(type='AutoAttack', version='custom', n_iter=3))
        settings.update(evaluation)
        return Config(dict(model=MODEL, evaluation=settings, work_dir=str(tmp_path / 'work')))

    return make


@pytest.fixture
def quiet():
    """An evaluation progress that shows nothing."""
    from mmtard.apis.eval_progress import EvaluationProgress

    return EvaluationProgress()
