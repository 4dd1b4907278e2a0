"""Equivalents of a vision tower's patch embedding and self-attention that are faster on the CPU.

Every attack step and training step runs a forward and a backward pass of the student's image tower.
On the CPU two of torch's standard layers spend much of that time outside the arithmetic:
oneDNN's backward pass of a patch-embedding convolution (kernel == stride) is several times slower
than the same sum written as one matrix product, and ``nn.MultiheadAttention`` moves its batch-first
input to sequence-first and back and packs q, k and v into a fresh tensor. The modules below keep
the layers' parameters and state-dict keys, compute the same values (the attention bit for bit, the
patch embedding up to float summation order) and are the standard layers on other devices, where
they were not measured. ``python tools/benchmark_layers.py`` times both side by side.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbeddingConv2d(nn.Conv2d):
    """A convolution with kernel == stride, no padding, dilation 1 and one group, computed on the CPU
    as non-overlapping patches times the flattened kernel."""

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if pixels.device.type != 'cpu' or pixels.dim() != 4:
            return super().forward(pixels)
        batch, channels, height, width = pixels.shape
        patch_h, patch_w = self.kernel_size
        rows, cols = height // patch_h, width // patch_w
        patches = (pixels[:, :, :rows * patch_h, :cols * patch_w]
                   .reshape(batch, channels, rows, patch_h, cols, patch_w)
                   .permute(0, 2, 4, 1, 3, 5).reshape(batch * rows * cols, channels * patch_h * patch_w))
        kernel = self.weight.reshape(self.out_channels, -1).t()
        embedded = patches @ kernel if self.bias is None else torch.addmm(self.bias, patches, kernel)
        return embedded.reshape(batch, rows * cols, self.out_channels).transpose(1, 2).reshape(
            batch, self.out_channels, rows, cols)


def self_attention(x: torch.Tensor, in_proj_weight: torch.Tensor, in_proj_bias: Optional[torch.Tensor],
                   num_heads: int, out_proj: Callable[[torch.Tensor], torch.Tensor],
                   qkv_delta: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                   attn_mask: Optional[torch.Tensor] = None, dropout: float = 0.0) -> torch.Tensor:
    """Multi-head self-attention of batch-first ``x`` with a fused qkv projection, q, k and v read as
    views of it; ``attn_mask`` as ``nn.MultiheadAttention`` takes it (boolean True = blocked)."""
    batch, length, dim = x.shape
    qkv = F.linear(x, in_proj_weight, in_proj_bias)
    if qkv_delta is not None:
        qkv = qkv + qkv_delta(x)
    q, k, v = qkv.view(batch, length, 3, num_heads, dim // num_heads).permute(2, 0, 3, 1, 4)
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        attn_mask = ~attn_mask  # scaled_dot_product_attention's boolean mask says which pairs are kept
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
    return out_proj(out.transpose(1, 2).reshape(batch, length, dim))


class SelfAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` whose unmasked self-attention on the CPU (no attention weights asked
    for, no dropout) is :func:`self_attention`; every other call is the standard one."""

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: Optional[torch.Tensor] = None, need_weights: bool = True,
                attn_mask: Optional[torch.Tensor] = None,
                **kwargs: Any) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        if (query.device.type != 'cpu' or key is not query or value is not query or need_weights or kwargs
                or key_padding_mask is not None or attn_mask is not None or query.dim() != 3
                or (self.dropout and self.training) or not self._qkv_same_embed_dim
                or self.bias_k is not None or self.add_zero_attn):
            return super().forward(query, key, value, key_padding_mask=key_padding_mask, need_weights=need_weights,
                                   attn_mask=attn_mask, **kwargs)
        x = query if self.batch_first else query.transpose(0, 1)
        out = self_attention(x, self.in_proj_weight, self.in_proj_bias, self.num_heads, self.out_proj)
        return (out if self.batch_first else out.transpose(0, 1)), None


def is_patch_embedding(module: nn.Module) -> bool:
    """True for a plain 2-d convolution that cuts its input into non-overlapping patches."""
    return (type(module) is nn.Conv2d and module.kernel_size == module.stride and module.padding in ((0, 0), 'valid')
            and module.dilation == (1, 1) and module.groups == 1 and module.padding_mode == 'zeros')


def use_fast_equivalents(tower: nn.Module) -> int:
    """Turn every patch-embedding convolution under ``tower`` into a :class:`PatchEmbeddingConv2d` and
    every ``nn.MultiheadAttention`` into a :class:`SelfAttention`, in place (same parameters, same state
    dict); returns how many layers were turned."""
    turned = 0
    for module in tower.modules():
        if is_patch_embedding(module):
            module.__class__ = PatchEmbeddingConv2d
        elif type(module) is nn.MultiheadAttention:
            module.__class__ = SelfAttention
        else:
            continue
        turned += 1
    return turned
