"""A demo stage killed while writing its only checkpoint: the rerun trains it again, without --overwrite."""
import json
import os

import torch

import mmtard.apis.train
from mmtard.apps.chain import STAGES, Size, stage_dir, stage_options, train_stage
from mmtard.evaluation.hashing import fingerprint
from mmtard.work_dir import discard_partial_checkpoints


def test_a_kill_during_a_stages_only_checkpoint_write_is_retrained_without_overwrite(tmp_path, monkeypatch):
    stage, size = STAGES[0], Size.named('smoke')  # the first stage starts from no other stage
    cfg, options = stage_options(stage, tmp_path, size, {})
    work_dir = stage_dir(tmp_path, stage, 0, fingerprint([cfg.to_dict(), options]))
    work_dir.mkdir(parents=True)
    final = f"iter_{options.get('train_cfg.max_iters', cfg.train_cfg.max_iters)}.pth"
    (work_dir / f'.{final}.999999999.tmp').write_bytes(b'PK half a checkpoint')  # the kill, mid-write
    calls = []

    def train(config, work_dir, resume, cfg_options):  # the real one trains for minutes
        calls.append(resume)
        mmtard.apis.train.check_work_dir(work_dir, resume, overwrite=False)  # what train() checks first
        assert [p.name for p in discard_partial_checkpoints(work_dir)] == [f'.{final}.999999999.tmp']
        torch.save({'meta': {'iter': 1}}, work_dir / final)

    monkeypatch.setattr(mmtard.apis.train, 'train', train)
    run = train_stage(stage, 0, tmp_path, size, {}, log=lambda line: None, use_shipped=False)
    assert calls == [None], 'a fresh run: nothing to resume, nothing to overwrite'
    assert run.checkpoint == work_dir / final and run.origin == 'trained'
    assert json.loads((work_dir / 'stage.json').read_text())['shipped'] is False
    assert sorted(os.listdir(work_dir)) == sorted([final, 'stage.json'])
