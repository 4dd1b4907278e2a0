"""The CPU-fast patch embedding and self-attention compute what torch's layers compute, values and
gradients, keep their state dicts, and step aside wherever they do not apply."""
import copy

import pytest
import torch
from torch import nn

from mmtard.models.encoders import OpenCLIPEncoder, TimmEncoder
from mmtard.models.encoders.fast_equivalents import (PatchEmbeddingConv2d, SelfAttention, is_patch_embedding,
                                                     use_fast_equivalents)


def turned(module: nn.Module) -> nn.Module:
    fast = copy.deepcopy(module)
    assert use_fast_equivalents(fast) == 1
    return fast


def outputs_and_grads(module: nn.Module, call, x: torch.Tensor):
    x = x.clone().requires_grad_(True)
    out = call(module, x)
    weights = torch.randn_like(out)  # a loss whose gradient differs in every output coordinate
    grads = torch.autograd.grad((out * weights).sum(), [x] + list(module.parameters()))
    return out, grads, weights


@pytest.mark.parametrize('bias', [False, True])
@pytest.mark.parametrize('size,patch', [(32, 8), (30, 8), (24, (4, 6))])  # 30: the ragged edge is dropped
def test_patch_embedding_equals_the_convolution_with_gradients(bias, size, patch):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 16, patch, stride=patch, bias=bias)
    fast = turned(conv)
    assert type(fast) is PatchEmbeddingConv2d
    x = torch.rand(5, 3, size, size)
    reference, reference_grads, weights = outputs_and_grads(conv, lambda m, z: m(z), x)
    x = x.clone().requires_grad_(True)
    out = fast(x)
    grads = torch.autograd.grad((out * weights).sum(), [x] + list(fast.parameters()))
    assert out.shape == reference.shape
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    for grad, expected in zip(grads, reference_grads):
        torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-5)


def test_patch_embedding_on_a_hand_computed_case():
    conv = nn.Conv2d(1, 1, 2, stride=2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1., 2.], [3., 4.]]]]))
    fast = turned(conv)
    x = torch.arange(16.).reshape(1, 1, 4, 4)
    # Top-left patch [[0, 1], [4, 5]]: 0 + 2 + 12 + 20 = 34; each step right adds 2 * (1+2+3+4) = 20,
    # each step down 8 * 10 = 80.
    assert fast(x).tolist() == [[[[34., 54.], [114., 134.]]]]


@pytest.mark.parametrize('conv', [
    nn.Conv2d(3, 8, 3, stride=1), nn.Conv2d(3, 8, 4, stride=2), nn.Conv2d(3, 8, 4, stride=4, padding=1),
    nn.Conv2d(4, 8, 2, stride=2, groups=2), nn.Conv2d(3, 8, 2, stride=2, dilation=2),
    nn.Conv2d(3, 8, 2, stride=2, padding_mode='reflect')], ids=str)
def test_only_patch_embeddings_are_turned(conv):
    assert not is_patch_embedding(conv)
    assert use_fast_equivalents(conv) == 0 and type(conv) is nn.Conv2d


@pytest.mark.parametrize('batch_first', [True, False])
def test_self_attention_equals_multihead_attention_bit_for_bit(batch_first):
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(32, 4, batch_first=batch_first)
    fast = turned(attention)
    assert type(fast) is SelfAttention
    x = torch.randn(6, 9, 32)

    def call(module, z):
        return module(z, z, z, need_weights=False)[0]

    reference, reference_grads, weights = outputs_and_grads(attention, call, x)
    x = x.clone().requires_grad_(True)
    out = call(fast, x)
    grads = torch.autograd.grad((out * weights).sum(), [x] + list(fast.parameters()))
    assert torch.equal(out, reference)
    for grad, expected in zip(grads, reference_grads):
        torch.testing.assert_close(grad, expected, rtol=1e-6, atol=1e-6)


def test_self_attention_defers_every_other_call_to_torch():
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(16, 2, batch_first=True)
    fast = turned(attention)
    x, other = torch.randn(2, 5, 16), torch.randn(2, 5, 16)
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    padding = torch.tensor([[False] * 4 + [True], [False] * 5])
    calls = [dict(query=x, key=x, value=x),  # attention weights asked for (the default)
             dict(query=x, key=other, value=other, need_weights=False),  # not self-attention
             dict(query=x, key=x, value=x, need_weights=False, attn_mask=mask),
             dict(query=x, key=x, value=x, need_weights=False, key_padding_mask=padding)]
    for kwargs in calls:
        expected, fast_out = attention(**kwargs), fast(**kwargs)
        assert torch.equal(fast_out[0], expected[0])
        assert (fast_out[1] is None) == (expected[1] is None)


def test_encoders_use_them_and_keep_their_outputs_and_state_dicts(images):
    torch.manual_seed(0)
    student = OpenCLIPEncoder('mmtard-tiny-vit').eval()
    kinds = {type(m) for m in student.model.visual.modules()}
    assert {PatchEmbeddingConv2d, SelfAttention} <= kinds and nn.MultiheadAttention not in kinds
    standard = copy.deepcopy(student)
    for module in standard.modules():  # back to torch's own layers, same weights
        if type(module) in (PatchEmbeddingConv2d, SelfAttention):
            module.__class__ = type(module).__mro__[1]
    torch.testing.assert_close(student(images), standard(images), rtol=1e-5, atol=1e-6)
    assert student.state_dict().keys() == standard.state_dict().keys()
    timm_student = TimmEncoder('test_vit', text_tower=dict(arch='mmtard-tiny-vit'), image_size=32)
    assert any(type(m) is PatchEmbeddingConv2d for m in timm_student.trunk.modules())
