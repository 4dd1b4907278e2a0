"""Objectives on tiny tensors, with the numbers worked out by hand."""
import math

import pytest
import torch

from mmtard.attacks import DLR, CrossEntropy, KLToTarget, Margin, SquaredL2, TargetedDLR
from mmtard.attacks.objectives import CaptionSetCrossEntropy
from mmtard.errors import ConfigError

LOGITS = torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])


def test_caption_set_cross_entropy_is_minus_log_mass_on_the_true_texts():
    positives = torch.tensor([[False, False, True, True], [True, False, False, False]])
    out = CaptionSetCrossEntropy(positives)(LOGITS)
    total = [sum(math.exp(v) for v in row) for row in LOGITS.tolist()]
    expected = [-math.log((math.exp(3) + math.exp(4)) / total[0]), -math.log(math.exp(4) / total[1])]
    assert torch.allclose(out, torch.tensor(expected))
    assert torch.allclose(out[1:], CrossEntropy(torch.tensor([0]))(LOGITS[1:]))  # one true text: plain CE
    assert torch.equal(CaptionSetCrossEntropy(positives).subset(torch.tensor([1])).positives, positives[1:])


def test_cross_entropy():
    # log(e^1 + e^2 + e^3 + e^4) - 4 = log(1 + e^-1 + e^-2 + e^-3)
    expected = math.log(1 + math.exp(-1) + math.exp(-2) + math.exp(-3))
    out = CrossEntropy(torch.tensor([3, 0]))(LOGITS)
    assert torch.allclose(out, torch.tensor([expected, expected]))


def test_dlr():
    # sample 0, y=3 (top): -(4 - 3) / (4 - 2) = -0.5; sample 1, y=3 (last): -(1 - 4) / (4 - 2) = 1.5
    out = DLR(torch.tensor([3, 3]))(LOGITS)
    assert torch.allclose(out, torch.tensor([-0.5, 1.5]))


def test_dlr_is_scale_and_shift_invariant():
    labels = torch.tensor([1, 2])
    assert torch.allclose(DLR(labels)(LOGITS), DLR(labels)(100 * LOGITS - 7), atol=1e-6)


def test_targeted_dlr():
    # y=3, t=0: -(4 - 1) / (4 - (2 + 1) / 2) = -1.2;  y=0, t=1: -(4 - 3) / (4 - (2 + 1) / 2) = -0.4
    out = TargetedDLR(torch.tensor([3, 0]), torch.tensor([0, 1]))(LOGITS)
    assert torch.allclose(out, torch.tensor([-1.2, -0.4]))


def test_margin():
    # y=0: max other 4 - 1 = 3; y=0 on sample 1: 3 - 4 = -1
    assert torch.allclose(Margin(torch.tensor([0, 0]))(LOGITS), torch.tensor([3.0, -1.0]))


def test_kl_to_target():
    # t = (0.5, 0.5, 0), uniform prediction over 3 classes: 2 * 0.5 * (log 0.5 + log 3) = log 1.5; 0 log 0 = 0
    target = torch.tensor([[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    out = KLToTarget(target)(torch.zeros(2, 3))
    assert torch.allclose(out, torch.tensor([math.log(1.5), 0.0]), atol=1e-6)


def test_squared_l2_sums_every_non_batch_dim():
    out = SquaredL2(torch.zeros(2, 2))(torch.tensor([[1.0, 2.0], [0.0, -3.0]]))
    assert torch.allclose(out, torch.tensor([5.0, 9.0]))


def test_objectives_compute_in_float32():
    out = CrossEntropy(torch.tensor([3, 0]))(LOGITS.bfloat16())
    assert out.dtype == torch.float32
    assert SquaredL2(torch.zeros(2, 4, dtype=torch.bfloat16))(LOGITS.bfloat16()).dtype == torch.float32


@pytest.mark.parametrize('index', [torch.tensor([1]), torch.tensor([False, True])])
def test_subset_restricts_every_per_sample_tensor(index):
    objective = TargetedDLR(torch.tensor([3, 0]), torch.tensor([0, 1]))
    assert torch.allclose(objective.subset(index)(LOGITS[1:]), torch.tensor([-0.4]))
    assert objective.labels.shape == (2,)  # the original is untouched


def test_dlr_refuses_too_few_classes():
    with pytest.raises(ConfigError, match='at least 3 classes'):
        DLR(torch.tensor([0]))(torch.zeros(1, 2))
