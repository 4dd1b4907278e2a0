"""Run the chain's training jobs in dependency order, several at once, each in its own process: the
scheduler behind `mmtard demo` and `mmtard study` (:mod:`.chain` defines the stages it runs)."""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import ConfigError
from .chain import Run, Stage

#: A unit of work: a stage of one chain seed; its inputs are the same seed's stages.
Job = Tuple[Stage, int]


def same_seed(stage: Stage, seed: int) -> int:
    """A job's inputs come from its own chain seed."""
    return seed


def run_jobs(jobs: Sequence[Job], work: Callable[..., Any], args: Tuple[Any, ...], workers: int,
             log: Callable[[str], None], input_seed: Callable[[Stage, int], int] = same_seed,
             already_done: Optional[Callable[[Stage, int, Dict[str, Run]], bool]] = None
             ) -> Dict[Tuple[str, int], Any]:
    """Run every job once its inputs are done, up to ``workers`` at a time, each in its own process
    with its share of the CPU threads (one process runs them in order).

    ``work(stage, seed, inputs, threads, *args)`` returns a tuple whose first item is the job's
    :class:`Run`; ``inputs`` maps the stage names of its inputs to their runs, taken from seed
    ``input_seed(stage, seed)`` (e.g. several student seeds on one chain). Jobs for which
    ``already_done(stage, seed, inputs)`` holds only read back what an earlier run made: they run in
    this process, since starting a worker costs seconds. Returns ``work``'s results by (stage name, seed).
    """
    names = {stage.name for stage, _ in jobs}
    for stage, _ in jobs:
        missing = set(stage.inputs.values()) - names
        if missing:
            raise ConfigError(f'Stage {stage.name!r} starts from {sorted(missing)}, which the run does not train.')
    threads = max(1, (os.cpu_count() or 1) // workers)
    done: Dict[Tuple[str, int], Any] = {}
    pending = list(jobs)

    def ready() -> List[Job]:
        return [(s, k) for s, k in pending if all((name, input_seed(s, k)) in done for name in s.inputs.values())]

    def inputs_of(stage: Stage, seed: int) -> Dict[str, Run]:
        return {name: done[(name, input_seed(stage, seed))][0] for name in stage.inputs.values()}

    if workers == 1:
        while pending:
            if not ready():
                raise stuck(pending)
            stage, seed = ready()[0]
            pending.remove((stage, seed))
            done[(stage.name, seed)] = work(stage, seed, inputs_of(stage, seed), threads, *args)
        return done
    context = multiprocessing.get_context('spawn')  # a fork of a process with torch threads can hang
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:  # starts workers on first submit
        running: Dict[Future, Job] = {}
        while pending or running:
            read_back = False
            for stage, seed in ready():
                inputs = inputs_of(stage, seed)
                if already_done is not None and already_done(stage, seed, inputs):
                    pending.remove((stage, seed))
                    done[(stage.name, seed)] = work(stage, seed, inputs, threads, *args)
                    read_back = True
                elif len(running) < workers:
                    pending.remove((stage, seed))
                    running[pool.submit(work, stage, seed, inputs, threads, *args)] = (stage, seed)
            if not running:
                if read_back:
                    continue
                raise stuck(pending)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                stage, seed = running.pop(future)
                done[(stage.name, seed)] = future.result()
    return done



def stuck(pending: Sequence[Job]) -> ConfigError:
    """The error when no pending job can start: each waits on another's output."""
    return ConfigError(f'No job can start: {[s.name for s, _ in pending]} wait on each other.')
