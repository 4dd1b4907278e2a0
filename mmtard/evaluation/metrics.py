"""Validation metric of the training loop: clean, (optionally) robust and diagnostic zero-shot accuracies."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch
from mmengine.evaluator import BaseMetric

from ..registry import METRICS


@METRICS.register_module()
class ZeroShotAccuracy(BaseMetric):
    """Top-1 accuracy of every prediction a model's validation record carries: 'pred' gives
    ``clean_acc``, 'robust_pred' (a model that attacks in validation) ``robust_acc``, and any other
    '<what>_pred' (diagnostics, e.g. a teacher on the student's adversarial examples) ``<what>_acc``."""

    default_prefix = 'zero_shot'

    @staticmethod
    def metric_name(key: str) -> str:
        return {'pred': 'clean_acc', 'robust_pred': 'robust_acc'}.get(key, key[:-len('_pred')] + '_acc')

    def process(self, data_batch: Any, data_samples: Sequence[Dict[str, torch.Tensor]]) -> None:
        for record in data_samples:
            label = record['label']
            row = {'n': label.numel()}
            row.update({self.metric_name(key): (value == label).sum().item() for key, value in record.items()
                        if key.endswith('pred')})
            self.results.append(row)

    def compute_metrics(self, results: List[Dict[str, int]]) -> Dict[str, float]:
        n = max(sum(r['n'] for r in results), 1)
        names = [name for name in results[0] if name != 'n'] if results else ['clean_acc']
        return {name: sum(r.get(name, 0) for r in results) / n for name in names
                if all(name in r for r in results)}
