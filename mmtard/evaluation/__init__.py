"""Metrics, benchmarks and reports."""
from .metrics import ZeroShotAccuracy

__all__ = ["ZeroShotAccuracy"]
