"""Run under torchrun: a few DDP steps of tiny MMT-ARD, then write this rank's student checksum.

With a third argument ``cache``, the clean teacher's outputs are cached (two epochs, so that each
rank reads rows another rank computed) and each rank also writes which cache file it used and which
keys it computed and read (``rank<r>.cache.json``).
"""
import json
import os
import sys
from pathlib import Path

from mmengine.dist import get_rank

from mmtard.apis.train import train
from mmtard.engine.hooks import unwrap
from mmtard.models.teacher_cache import TeacherEmbeddingCache

config, work_dir = sys.argv[1], Path(sys.argv[2])
cached = sys.argv[3:] == ['cache']
options = {'train_cfg.max_iters': 4, 'train_cfg.val_interval': 100, 'default_hooks.checkpoint.interval': 4,
           'train_dataloader.batch_size': 8, 'train_dataloader.dataset.num_samples': 32, 'model.attack.steps': 1,
           'model.cache_clean_teacher_outputs': cached}
computed, read = [], []
if cached:
    store, load = TeacherEmbeddingCache.store, TeacherEmbeddingCache.load
    TeacherEmbeddingCache.store = lambda self, keys, rows: computed.extend(keys) or store(self, keys, rows)
    TeacherEmbeddingCache.load = lambda self, keys: read.extend(keys) or load(self, keys)
runner = train(config, work_dir=work_dir, launcher='pytorch', cfg_options=options)
model = unwrap(runner.model)
(work_dir / f'rank{get_rank()}.sha256').write_text(model.student.weights_checksum())
if cached:
    path = model.clean_cache('clean')._file.path
    (work_dir / f'rank{get_rank()}.cache.json').write_text(json.dumps(
        dict(file=str(path), inode=os.stat(path).st_ino, computed=computed, read=read)))
