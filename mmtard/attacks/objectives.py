"""Per-sample objectives that attacks maximise, for logit and embedding outputs alike.

An objective holds its per-sample targets (labels, teacher probabilities, clean embeddings), so an
attack never needs to know which kind of output it perturbs, and ``subset`` lets an attack keep
working only on the samples it has not broken yet. Every objective computes in float32, whatever
precision the model ran in.
"""
from __future__ import annotations

from typing import Callable, Dict, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from ..value_checks import check_choice

Index = Union[Tensor, slice]


class Objective:
    """``objective(output) -> (B,)`` per-sample loss to maximise; ``subset(index)`` restricts it.

    Subclasses store their per-sample tensors as attributes named in ``per_sample`` (first dimension
    = batch), which is all ``subset`` needs.
    """

    per_sample: tuple = ()

    def __call__(self, output: Tensor) -> Tensor:
        raise NotImplementedError

    def subset(self, index: Index) -> 'Objective':
        """The same objective for the samples ``index`` selects (LongTensor, bool mask or slice)."""
        restricted = object.__new__(type(self))
        restricted.__dict__.update(self.__dict__)
        for name in self.per_sample:
            setattr(restricted, name, getattr(self, name)[index])
        return restricted


def _require_classes(logits: Tensor, minimum: int, what: str) -> None:
    if logits.dim() != 2 or logits.shape[1] < minimum:
        raise ConfigError(f'{what} needs (B, C) logits with at least {minimum} classes, got shape '
                          f'{tuple(logits.shape)}. Use the cross-entropy loss (loss=\'ce\') for tasks with '
                          f'fewer classes, as AutoAttack does for binary datasets (version=\'apgd-ce\').')


class CrossEntropy(Objective):
    """Cross-entropy of the logits with the true labels."""

    per_sample = ('labels',)

    def __init__(self, labels: Tensor) -> None:
        self.labels = labels

    def __call__(self, output: Tensor) -> Tensor:
        return F.cross_entropy(output.float(), self.labels, reduction='none')


class CaptionSetCrossEntropy(Objective):
    """-log of the probability mass on any of a sample's true texts: logsumexp(all) - logsumexp(true).

    Image-to-text retrieval counts an image as found when *any* of its captions ranks high, so its
    attack must push the image away from all of them; cross-entropy to one caption could "succeed"
    by moving the image onto another of its own captions. ``positives``: (B, T) bool mask.
    """

    per_sample = ('positives',)

    def __init__(self, positives: Tensor) -> None:
        self.positives = positives

    def __call__(self, output: Tensor) -> Tensor:
        logits = output.float()
        return logits.logsumexp(dim=1) - logits.masked_fill(~self.positives, float('-inf')).logsumexp(dim=1)


class DLR(Objective):
    """Difference of Logits Ratio (Croce & Hein 2020): -(z_y - max_{i!=y} z_i) / (z_pi1 - z_pi3).

    Invariant to shifting and rescaling the logits, so a large logit scale (CLIP's 100) cannot
    flatten the gradient as it can for cross-entropy.
    """

    per_sample = ('labels',)

    def __init__(self, labels: Tensor) -> None:
        self.labels = labels

    def __call__(self, output: Tensor) -> Tensor:
        logits = output.float()
        _require_classes(logits, 3, 'The DLR loss')
        ranked, order = logits.sort(dim=1, descending=True)
        true = logits.gather(1, self.labels[:, None])[:, 0]
        top_is_true = order[:, 0] == self.labels
        best_other = torch.where(top_is_true, ranked[:, 1], ranked[:, 0])
        return -(true - best_other) / (ranked[:, 0] - ranked[:, 2] + 1e-12)


class Margin(Objective):
    """Negative classification margin -(z_y - max_{i!=y} z_i): positive once the sample is misclassified
    (the Carlini-Wagner margin; the loss of the Square attack)."""

    per_sample = ('labels',)

    def __init__(self, labels: Tensor) -> None:
        self.labels = labels

    def __call__(self, output: Tensor) -> Tensor:
        logits = output.float()
        true = logits.gather(1, self.labels[:, None])[:, 0]
        others = logits.scatter(1, self.labels[:, None], float('-inf'))
        return others.amax(dim=1) - true


class TargetedObjective(Objective):
    """An objective of the true labels and one target class per sample."""

    per_sample = ('labels', 'target_labels')

    def __init__(self, labels: Tensor, target_labels: Tensor) -> None:
        self.labels = labels
        self.target_labels = target_labels


class TargetedDLR(TargetedObjective):
    """Targeted DLR (APGD-T): -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)."""

    def __call__(self, output: Tensor) -> Tensor:
        logits = output.float()
        _require_classes(logits, 4, 'The targeted DLR loss')
        ranked = logits.sort(dim=1, descending=True)[0]
        true = logits.gather(1, self.labels[:, None])[:, 0]
        target = logits.gather(1, self.target_labels[:, None])[:, 0]
        return -(true - target) / (ranked[:, 0] - 0.5 * (ranked[:, 2] + ranked[:, 3]) + 1e-12)


class KLToTarget(Objective):
    """KL(t || softmax(output)) = sum_k t_k (log t_k - log softmax(output)_k), with 0 log 0 = 0.

    The distillation attack of MMT-ARD: push the student's prediction away from a teacher's.
    """

    per_sample = ('target_probs',)

    def __init__(self, target_probs: Tensor) -> None:
        self.target_probs = target_probs

    def __call__(self, output: Tensor) -> Tensor:
        target = self.target_probs.float()
        log_probs = F.log_softmax(output.float(), dim=1)
        return (torch.xlogy(target, target) - target * log_probs).sum(dim=1)


class SquaredL2(Objective):
    """||output - target||^2 summed over every non-batch dimension (FARE's embedding attack)."""

    per_sample = ('target_embeddings',)

    def __init__(self, target_embeddings: Tensor) -> None:
        self.target_embeddings = target_embeddings

    def __call__(self, output: Tensor) -> Tensor:
        return (output.float() - self.target_embeddings.float()).pow(2).flatten(1).sum(dim=1)


#: Untargeted classification losses an attack's ``loss`` option may name.
CLASSIFICATION_LOSSES: Dict[str, Callable[[Tensor], Objective]] = {'ce': CrossEntropy, 'dlr': DLR,
                                                                   'margin': Margin}


def classification_objective(loss: str, labels: Tensor) -> Objective:
    """The untargeted objective called ``loss`` ('ce', 'dlr' or 'margin') for these labels."""
    return CLASSIFICATION_LOSSES[check_choice(loss, tuple(CLASSIFICATION_LOSSES), 'loss')](labels)
