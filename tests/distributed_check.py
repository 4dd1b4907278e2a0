"""Run under torchrun: a few DDP steps of tiny MMT-ARD, then write this rank's student checksum."""
import sys
from pathlib import Path

from mmengine.dist import get_rank

from mmtard.apis.train import train
from mmtard.engine.hooks import unwrap

config, work_dir = sys.argv[1], Path(sys.argv[2])
runner = train(config, work_dir=work_dir, launcher='pytorch',
               cfg_options={'train_cfg.max_iters': 3, 'train_cfg.val_interval': 100,
                            'default_hooks.checkpoint.interval': 3, 'train_dataloader.batch_size': 8,
                            'train_dataloader.dataset.num_samples': 64, 'model.attack.steps': 1})
student = unwrap(runner.model).student
(work_dir / f'rank{get_rank()}.sha256').write_text(student.weights_checksum())
