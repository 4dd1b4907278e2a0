"""Validation metric of the training loop: clean and (optionally) robust zero-shot accuracy."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch
from mmengine.evaluator import BaseMetric

from ..registry import METRICS


@METRICS.register_module()
class ZeroShotAccuracy(BaseMetric):
    """Top-1 accuracy of the model's 'pred' (and 'robust_pred' when the model attacks in validation)."""

    default_prefix = 'zero_shot'

    def process(self, data_batch: Any, data_samples: Sequence[Dict[str, torch.Tensor]]) -> None:
        for record in data_samples:
            label = record['label']
            row = {'n': label.numel(), 'clean_correct': (record['pred'] == label).sum().item()}
            if 'robust_pred' in record:
                row['robust_correct'] = (record['robust_pred'] == label).sum().item()
            self.results.append(row)

    def compute_metrics(self, results: List[Dict[str, int]]) -> Dict[str, float]:
        n = sum(r['n'] for r in results)
        metrics = {'clean_acc': sum(r['clean_correct'] for r in results) / max(n, 1)}
        if results and all('robust_correct' in r for r in results):
            metrics['robust_acc'] = sum(r['robust_correct'] for r in results) / max(n, 1)
        return metrics
