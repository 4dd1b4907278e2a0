"""CLIP's contrastive pretraining, for making a small base model offline (the embedded demo's stage 1)."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..registry import MODELS
from .base import ZeroShotModel


@MODELS.register_module()
class ContrastivePretrain(ZeroShotModel):
    """Symmetric InfoNCE between images and their captions, both towers trained, learned temperature.

    Batches need a ``caption`` per image (``ClassCaptions`` adds them to any labelled dataset).
    The student must be an encoder with a trainable text tower, e.g.
    ``dict(type='OpenCLIPEncoder', arch=..., freeze_text=False)``. Validation scores zero-shot
    classification with the *current* text tower on the validation set's classes, so
    ``ZeroShotClassesHook`` recomputes the class embeddings before every validation.
    """

    trains_text_tower = True

    def __init__(self, student: dict, init_logit_scale: float = 1 / 0.07, max_logit_scale: float = 100.0,
                 **kwargs: Any) -> None:
        super().__init__(student, **kwargs)
        if not hasattr(self.student, 'text_features'):
            raise ConfigError('ContrastivePretrain needs a student with a text tower (OpenCLIPEncoder).')
        if not any(p.requires_grad for name, p in self.student.named_parameters() if not name.startswith('model.visual')):
            raise ConfigError('ContrastivePretrain trains the text tower too: set freeze_text=False on the student.')
        self.log_temperature = nn.Parameter(torch.tensor(math.log(init_logit_scale)))
        self.max_log_scale = math.log(max_logit_scale)

    def learned_logit_scale(self) -> Tensor:
        return self.log_temperature.clamp(max=self.max_log_scale).exp()

    @staticmethod
    def logit_scale_in(state: Dict[str, Tensor], model_cfg: Dict[str, Any]) -> Optional[float]:
        """The scale a checkpoint's weights learned (:meth:`learned_logit_scale`; None where the state has
        none): what its CLIP carries, as open_clip's ``logit_scale`` carries CLIP's learned temperature."""
        if 'log_temperature' not in state:
            return None
        ceiling = math.log(model_cfg.get('max_logit_scale', 100.0))
        return math.exp(min(float(state['log_temperature']), ceiling))

    def forward(self, inputs: Tensor, label: Optional[Tensor] = None, index: Optional[Tensor] = None,
                mode: str = 'tensor', caption: Optional[Sequence[str]] = None, **unused: Any) -> Any:
        if mode == 'loss':
            if caption is None:
                raise ConfigError('ContrastivePretrain needs captions: wrap the dataset in ClassCaptions '
                                  'or use one whose items have a "caption".')
            return self.contrastive_loss(inputs, list(caption))
        return super().forward(inputs, label, index, mode)

    def contrastive_loss(self, images: Tensor, captions: List[str]) -> Dict[str, Tensor]:
        image_embeddings = self.student(images)
        text_embeddings = F.normalize(self.student.text_features(captions).float(), dim=-1)
        logits = self.learned_logit_scale() * image_embeddings @ text_embeddings.t()
        # Captions repeat within a batch (few templates x classes): every identical caption is a positive.
        same = torch.tensor([[a == b for b in captions] for a in captions], device=logits.device)
        targets = same.float() / same.sum(dim=1, keepdim=True)
        loss = 0.5 * (torch.sum(-targets * F.log_softmax(logits, dim=1), dim=1).mean()
                      + torch.sum(-targets * F.log_softmax(logits.t(), dim=1), dim=1).mean())
        return {'loss': loss, 'logit_scale': self.learned_logit_scale().detach()}
