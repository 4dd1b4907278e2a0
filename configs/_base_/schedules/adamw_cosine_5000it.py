_base_ = ['../default_runtime.py']

# The MMT-ARD release's schedule (train/adversarial_distill_clip_ddp.py): 5000 steps at a global
# batch of 512 (about 2 ImageNet epochs), AdamW lr 2e-5, weight decay 1e-4, linear warm-up over the
# first 7% (350 steps), then cosine to 0. Iteration-based, as the release counts steps, not epochs.
#
# Batch and learning rate: `train_dataloader.batch_size` is per process, so the effective batch is
# batch_size x processes (torchrun --nproc_per_node=N). 2e-5 is the release's lr at 512; for another
# effective batch B scale it linearly, lr = 2e-5 * B / 512, which `auto_scale_lr.enable=True` does
# (mmengine multiplies lr by B / base_batch_size). The release's README runs batch 32 at the same
# 2e-5 without scaling; to reproduce that run, leave auto_scale_lr off.
# Departure: the release's first optimizer step runs at the full lr (its scheduler is first called
# after step 1); here warm-up starts at lr / 350 on step 1, as the release's steps 2..350 continue.
# AdamW runs fused (torch's one-pass implementation, on CPU and GPU): the release's update, computed in
# one pass over all parameters instead of one per tensor (57 ms against 177 ms per step for ViT-B-32 on
# a CPU, docs/speed.md; tests/configs/test_release_configs.py checks the two give the same parameters).
max_iters = 5000
warmup_iters = int(0.07 * max_iters)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-5, weight_decay=1e-4, fused=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / warmup_iters, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, end=max_iters, eta_min=0.0),
]
# Validation and checkpoints every 500 steps: the release keeps 10 checkpoints over a run.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=500)
val_cfg = dict(type='ValLoop')
auto_scale_lr = dict(base_batch_size=512, enable=False)
default_hooks = dict(logger=dict(log_metric_by_epoch=False),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=500, max_keep_ckpts=3,
                                     save_last=True))
log_processor = dict(by_epoch=False)
