"""Low-rank adaptation (LoRA) of a vision transformer's attention, and a parameter report.

The release fine-tunes ViT students with LoRA (r=16, alpha=16, dropout 0.1 on the attention's qkv
and output projections, ~1% of the weights trainable). Each adapted projection computes
``W x + b + (alpha / r) * B A dropout(x)`` with ``B`` zero-initialised, so an adapted model starts
*exactly* as its base model.

open_clip's ViT blocks use ``nn.MultiheadAttention``, whose forward reads ``in_proj_weight`` and
``out_proj.weight`` directly instead of calling sub-modules, so wrapping ``out_proj`` alone would
be silently ignored. :class:`LoRAMultiheadAttention` therefore replaces the whole attention module,
keeping the base parameter names (``in_proj_weight``, ``out_proj.weight``, ...) so that plain
CLIP checkpoints still load into an adapted model. timm ViTs call ``attn.qkv``/``attn.proj`` as
``nn.Linear`` modules, which :class:`LoRALinear` replaces.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from mmtard.errors import ConfigError

from .fast_equivalents import self_attention

#: Targets of the release: the fused qkv in-projection and the attention output projection.
DEFAULT_TARGETS: Tuple[str, ...] = ('qkv', 'out_proj')


def is_lora_key(key: str) -> bool:
    """Whether a state-dict key belongs to a LoRA adapter."""
    return '.lora_A' in key or '.lora_B' in key or key.startswith(('lora_A', 'lora_B'))


class LowRankDelta(nn.Module):
    """``(alpha / r) * B A dropout(x)``: the trainable low-rank update of one projection."""

    def __init__(self, in_features: int, out_features: int, r: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.scale = alpha / r
        self.dropout = nn.Dropout(dropout)
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as peft / the LoRA paper's code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B) * self.scale


class LoRALinear(nn.Module):
    """A frozen-able ``nn.Linear`` plus a :class:`LowRankDelta`; keeps the ``weight``/``bias`` keys."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.weight = base.weight
        self.bias = base.bias
        self.lora = LowRankDelta(base.in_features, base.out_features, r, alpha, dropout).to(base.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias) + self.lora(x)


class LoRAMultiheadAttention(nn.Module):
    """Self-attention equivalent to a given ``nn.MultiheadAttention`` with LoRA on qkv and/or out_proj."""

    def __init__(self, base: nn.MultiheadAttention, r: int, alpha: float, dropout: float,
                 adapt_qkv: bool, adapt_out: bool) -> None:
        super().__init__()
        if not base._qkv_same_embed_dim or base.bias_k is not None or base.add_zero_attn:
            raise ConfigError('LoRA supports self-attention with a fused qkv projection and no bias_k/bias_v '
                              'or add_zero_attn (as in open_clip and timm ViTs).')
        self.embed_dim, self.num_heads = base.embed_dim, base.num_heads
        self.batch_first, self.attn_dropout = base.batch_first, base.dropout
        self.in_proj_weight = base.in_proj_weight
        self.in_proj_bias = base.in_proj_bias
        dim = base.embed_dim
        self.qkv_lora = LowRankDelta(dim, 3 * dim, r, alpha, dropout).to(base.in_proj_weight) if adapt_qkv else None
        self.out_proj = LoRALinear(base.out_proj, r, alpha, dropout) if adapt_out else base.out_proj

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: Optional[torch.Tensor] = None, need_weights: bool = False,
                attn_mask: Optional[torch.Tensor] = None, **_: object) -> Tuple[torch.Tensor, None]:
        """Same call convention as ``nn.MultiheadAttention``; attention weights are not returned."""
        if key is not query or value is not query or key_padding_mask is not None:
            raise NotImplementedError('LoRAMultiheadAttention implements self-attention without key padding masks.')
        x = query if self.batch_first else query.transpose(0, 1)
        out = self_attention(x, self.in_proj_weight, self.in_proj_bias, self.num_heads, self.out_proj,
                             qkv_delta=self.qkv_lora, attn_mask=attn_mask,
                             dropout=self.attn_dropout if self.training else 0.0)
        return (out if self.batch_first else out.transpose(0, 1)), None


def apply_lora(module: nn.Module, r: int = 16, alpha: float = 16., dropout: float = 0.1,
               target_modules: Sequence[str] = DEFAULT_TARGETS) -> nn.Module:
    """Add LoRA adapters in place and freeze everything else in ``module``; returns ``module``.

    ``target_modules`` names attribute names of ``nn.Linear`` layers (e.g. timm's ``qkv``,
    ``proj``); for ``nn.MultiheadAttention`` layers ``qkv`` adapts the fused in-projection and
    ``out_proj`` the output projection.
    """
    if r < 1 or alpha <= 0 or not 0 <= dropout < 1:
        raise ConfigError(f'LoRA needs r >= 1, alpha > 0 and 0 <= dropout < 1; got r={r}, alpha={alpha}, '
                          f'dropout={dropout}.')
    targets = set(target_modules)
    replacements: Dict[str, nn.Module] = {}
    candidates = set()
    for name, child in module.named_modules():
        leaf = name.rsplit('.', 1)[-1]
        if isinstance(child, nn.MultiheadAttention):
            candidates.update(('qkv', 'out_proj'))
            if targets & {'qkv', 'out_proj'}:
                replacements[name] = LoRAMultiheadAttention(child, r, alpha, dropout, 'qkv' in targets,
                                                            'out_proj' in targets)
        elif isinstance(child, nn.Linear) and name:
            parent = module.get_submodule(name.rsplit('.', 1)[0]) if '.' in name else module
            if isinstance(parent, nn.MultiheadAttention):
                continue  # handled with its attention module
            candidates.add(leaf)
            if leaf in targets:
                replacements[name] = LoRALinear(child, r, alpha, dropout)
    if not replacements:
        raise ConfigError(f'LoRA target_modules {sorted(targets)} match no layer of {type(module).__name__}. '
                          f'Layers LoRA can adapt here: {sorted(candidates) or "none (not a transformer)"}.')
    module.requires_grad_(False)
    for name, replacement in replacements.items():
        parent_name, _, leaf = name.rpartition('.')
        setattr(module.get_submodule(parent_name) if parent_name else module, leaf, replacement)
    for name, param in module.named_parameters():
        param.requires_grad_(is_lora_key(name))
    return module


def merged_state_dict(module: nn.Module) -> Dict[str, torch.Tensor]:
    """``module``'s state dict with every LoRA update folded into its base weight and the adapter
    keys dropped: the plain model that computes what the adapted one computes in eval mode, in the
    key layout of the unadapted architecture (what open_clip or timm load)."""
    state = {k: v.detach().clone() for k, v in module.state_dict().items() if not is_lora_key(k)}
    for name, delta in module.named_modules():
        if isinstance(delta, LowRankDelta):
            parent, _, leaf = name.rpartition('.')
            target = f'{parent}.in_proj_weight' if leaf == 'qkv_lora' else f'{parent}.weight'
            target = target.lstrip('.')
            with torch.no_grad():
                update = delta.scale * (delta.lora_B.float() @ delta.lora_A.float())
                state[target] = (state[target].float() + update).to(state[target].dtype)
    return state


def parameter_report(module: nn.Module) -> Dict[str, float]:
    """Trainable and total parameter counts of ``module`` and the trainable fraction."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return {'trainable': trainable, 'total': total, 'fraction': trainable / total if total else 0.0}
