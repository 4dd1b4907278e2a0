"""Tiny distiller builds and a stand-in attack shared by the model tests."""
import torch

from mmtard.attacks import AttackResult
from mmtard.registry import MODELS

TINY = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=None)
CLASSES = ['red circle', 'blue square', 'green star', 'white ring']
TEMPLATES = ['a photo of a {}.', 'a drawing of a {}.']


def build(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.set_classes(CLASSES, TEMPLATES)
    return model


def batch(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, len(CLASSES), (n,), generator=g)


class FixedAttack:
    """Stands in for the attack so the test knows x_adv exactly; records each call's objective
    (``calls``) and forward function (``forwards``)."""

    def __init__(self, adv):
        self.adv, self.calls, self.forwards = adv, [], []

    def perturb(self, forward, images, objective):
        self.calls.append(objective)
        self.forwards.append(forward)
        return AttackResult(self.adv, 0)
