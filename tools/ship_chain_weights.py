"""Pack chain seed 0's pretraining stages as the weights that ship in ``mmtard/apps/pretrained/``.

    python tools/ship_chain_weights.py                      # from work_dirs/demo: trains what is missing
    python tools/ship_chain_weights.py --work-dir DIR --size smoke --out DIR   # what the tests do

Run it after changing a pretraining stage's config (the demo then trains that stage and says so).
It reuses (or trains, from scratch) the stages in the work dir, packs them, and checks that every
text the chain reads embeds identically from the packed and the original weights.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from mmtard.apps.chain import UPSTREAM, Size, run_jobs, train_job
from mmtard.apps.shipped import MANIFEST, SHIPPED_DIR, ship


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', type=Path, default=Path('work_dirs/demo'))
    parser.add_argument('--size', choices=['full', 'smoke'], default='full')
    parser.add_argument('--out', type=Path, default=SHIPPED_DIR)
    args = parser.parse_args()
    log = Console().print
    jobs = [(stage, 0) for stage in UPSTREAM]
    done = run_jobs(jobs, train_job, (args.work_dir, Size.named(args.size), log, False), 1, log)
    for name, entry in ship([done[(stage.name, 0)][0] for stage in UPSTREAM], args.size, args.out).items():
        print(f'{name}: {(args.out / str(entry["file"])).stat().st_size / 1e6:.1f} MB, recipe {entry["recipe"]}; '
              f'every chain text embeds identically from the packed weights')
    print(f'wrote {args.out / MANIFEST}')


if __name__ == '__main__':
    main()
