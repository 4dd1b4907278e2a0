"""How `mmtard eval` shows an evaluation in the terminal: the plan table, the cost line, a progress bar,
warnings and the result table, drawn with rich from what :func:`mmtard.apis.evaluate.evaluate` reports."""
from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import List, Optional, Sequence, Type

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from ..apis.eval_progress import EvaluationProgress
from ..evaluation.benchmark import BatchEvent, Plan, PlanRow
from ..evaluation.partial import PARTIAL_FILE
from ..evaluation.results import TABLE_COLUMNS, BenchmarkResult, table_rows


def format_duration(seconds: float) -> str:
    """Seconds as the unit a person reads at a glance: s below two minutes, min below two hours, else h."""
    if seconds < 120:
        return f'{seconds:.0f} s'
    if seconds < 7200:
        return f'{seconds / 60:.0f} min'
    return f'{seconds / 3600:.1f} h'


def plan_table(rows: List[PlanRow]) -> Table:
    """Per dataset: what runs on it and how many passes of one image its attack may take."""
    table = Table(title='evaluation plan')
    left = ('dataset', 'task', 'sampling', 'attack', 'passes per attacked sample')
    for column in ('dataset', 'task', 'classes', 'n clean / robust', 'sampling', 'eps (/255)', 'attack',
                   'passes per attacked sample', 'max passes'):
        table.add_column(column, overflow='fold', justify='left' if column in left else 'right')
    for row in rows:
        table.add_row(row.dataset, row.task, str(row.num_classes or '-'), f'{row.n_clean} / {row.n_robust}',
                      row.sampling or '-', ', '.join(f'{e:g}' for e in row.eps) or '-',
                      escape(row.attack or '-'),  # '[reduced]' is text, not rich markup
                      ' + '.join(f'{name} {passes}' for name, passes in row.stages.items()) or '-',
                      f'{row.passes:,}')
    return table


def cost_summary(rows: List[PlanRow], seconds_per_batch: float, batch_size: int) -> str:
    """One line: total passes and the time they take at the calibrated speed."""
    passes = sum(row.passes for row in rows)
    return (f'At most {passes:,} forward+backward passes of one image; one batch of {batch_size} took '
            f'{seconds_per_batch:.3g} s, so at most about {format_duration(passes / batch_size * seconds_per_batch)} '
            f'(early stops of AutoAttack on broken samples make it faster).')


def results_table(records: Sequence[BenchmarkResult], title: str = 'mmtard evaluation') -> Table:
    """The rows of results.md, averages in bold below a rule."""
    table = Table(title=title)
    for column in TABLE_COLUMNS:
        justify = 'left' if column in ('dataset', 'task', 'attack') else 'right'
        table.add_column(column, overflow='fold', justify=justify)
    rows = table_rows(records)
    for i, row in enumerate(rows):
        table.add_row(*map(escape, row), style='bold' if row[0] == 'average' else None,  # '[reduced]' is not markup
                      end_section=i + 1 < len(rows) and rows[i + 1][0] == 'average' and row[0] != 'average')
    return table


class RichEvaluationProgress(EvaluationProgress):
    """Draws an evaluation on ``console``: warnings, the plan, the cost line, a progress bar and the
    results. The bar starts with the plan (which only the main process of a distributed evaluation reports); use the object as a
    context manager around the evaluation, so the bar is removed however the evaluation ends."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bar = Progress(console=console, transient=True)
        self._task: Optional[TaskID] = None

    def __enter__(self) -> 'RichEvaluationProgress':
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], error: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self._bar.stop()

    def warning(self, message: str) -> None:
        self.console.print(f'[yellow]warning:[/] {escape(message)}', highlight=False, soft_wrap=True)

    def planned(self, plan: Plan, out_dir: Path) -> None:
        self.console.print(plan_table(plan.rows))
        self.console.print(cost_summary(plan.rows, plan.seconds_per_batch, plan.batch_size), highlight=False)
        if plan.reused:
            self.console.print(f'Resuming: {plan.reused} finished batches in {out_dir / PARTIAL_FILE} (and the other '
                               f'processes\' partial files beside it) are reused.')
        self._task = self._bar.add_task('evaluating', total=plan.batches)
        self._bar.start()

    def batch(self, event: BatchEvent) -> None:
        if self._task is not None:
            self._bar.update(self._task, advance=1, description=f'{event.dataset} {event.stage} eps={event.eps:g}')

    def finished(self, rows: List[BenchmarkResult], out_dir: Path) -> None:
        self._bar.stop()
        if self._task is not None:  # the next evaluation shown through this object gets a bar of its own
            self._bar.remove_task(self._task)
            self._task = None
        self.console.print(results_table(rows))
        self.console.print(f'Results in {out_dir}', highlight=False)
