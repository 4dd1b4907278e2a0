"""Fixtures of the attack tests: the trained toy classifier, one intra-op thread."""
from __future__ import annotations

from typing import Tuple

import pytest
import torch
from attack_toys import train_toy
from torch import Tensor, nn


@pytest.fixture(scope='session')
def trained() -> Tuple[nn.Module, Tensor, Tensor]:
    return train_toy()


@pytest.fixture(autouse=True, scope='package')
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine the
    spin-waiting of a second thread made this package 5x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
