_base_ = ['../default_runtime.py']

# 100 iterations with a short warm-up: enough to see a tiny model learn on a CPU. Schedulers set an
# explicit `end` so that a resumed run keeps the schedule it started with.
max_iters = 100
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=10, end=max_iters, eta_min=0.0),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=50)
val_cfg = dict(type='ValLoop')
default_hooks = dict(logger=dict(log_metric_by_epoch=False),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=50, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
