"""Pack chain seed 0's pretraining stages as the weights that ship in ``mmtard/apps/pretrained/``.

    python tools/ship_chain_weights.py                      # from work_dirs/demo: trains what is missing
    python tools/ship_chain_weights.py --work-dir DIR --size smoke --out DIR   # what the tests do
    python tools/ship_chain_weights.py --evaluations-only   # keep the shipped weights, add their evaluations

Run it after changing a pretraining stage's config (the demo then trains that stage and says so), or
the demo's evaluation. It reuses (or trains, from scratch) the stages in the work dir, packs them,
checks that every text the chain reads embeds identically from the packed and the original weights,
then evaluates them as the demo does (reusing finished evaluations) and ships those rows too.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from mmtard.apps.chain import UPSTREAM, Size, run_jobs, train_job
from mmtard.apps.scoring import benchmark, score_run
from mmtard.apps.shipped import MANIFEST, SHIPPED_DIR, ship, ship_evaluations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', type=Path, default=Path('work_dirs/demo'))
    parser.add_argument('--size', choices=['full', 'smoke'], default='full')
    parser.add_argument('--out', type=Path, default=SHIPPED_DIR)
    parser.add_argument('--evaluations-only', action='store_true',
                        help='keep the weights in --out (the work dir holds them, unpacked) and add their evaluations')
    args = parser.parse_args()
    log = Console().print
    size = Size.named(args.size)
    jobs = [(stage, 0) for stage in UPSTREAM]
    done = run_jobs(jobs, train_job, (args.work_dir, size, log, args.evaluations_only), 1, log)
    runs = [done[(stage.name, 0)][0] for stage in UPSTREAM]
    if not args.evaluations_only:
        for name, entry in ship(runs, args.size, args.out).items():
            print(f'{name}: {(args.out / str(entry["file"])).stat().st_size / 1e6:.1f} MB, recipe {entry["recipe"]}; '
                  f'every chain text embeds identically from the packed weights')
    section = benchmark(size, args.work_dir / '.cache' / 'shapes')
    for run in runs:
        score_run(run, section)
    ship_evaluations(runs, section, args.out)
    print(f'wrote {args.out / MANIFEST}')


if __name__ == '__main__':
    main()
