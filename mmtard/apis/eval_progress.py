"""What :func:`mmtard.apis.evaluate.evaluate` reports while it runs, for its caller to show.

The evaluation returns its rows and reports the rest (warnings, the plan, each batch, the output folder)
as plain objects; how they look is the caller's: `mmtard eval` draws tables and a progress bar with rich (:mod:`mmtard.cli.eval_display`), a
notebook may log, a test records. A caller overrides the methods it needs (docs/results.md).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List

from ..evaluation.benchmark import BatchEvent, Plan
from ..evaluation.results import BenchmarkResult

logger = logging.getLogger('mmtard.evaluate')


class EvaluationProgress:
    """Receives an evaluation's events; every method does nothing here."""

    def warning(self, message: str) -> None:
        """Something the user should know about the evaluated model or data (it still runs)."""

    def planned(self, plan: Plan, out_dir: Path) -> None:
        """Before the first batch: what runs on each dataset, what it costs, where results go."""

    def batch(self, event: BatchEvent) -> None:
        """After every batch, computed or taken from the partial results."""

    def finished(self, rows: List[BenchmarkResult], out_dir: Path) -> None:
        """After the result files are written into ``out_dir``."""


class LoggedEvaluationProgress(EvaluationProgress):
    """The default: warnings and where results went go to the ``mmtard.evaluate`` logger."""

    def warning(self, message: str) -> None:
        logger.warning(message)

    def finished(self, rows: List[BenchmarkResult], out_dir: Path) -> None:
        logger.info('Results in %s', out_dir)
