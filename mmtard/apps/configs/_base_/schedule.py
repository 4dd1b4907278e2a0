_base_ = ['runtime.py']

# The embedded demo's fine-tuning budget: 500 iterations, AdamW, 20 warm-up steps then cosine; one
# checkpoint at the end; validation (clean + PGD-10 robust accuracy at 4/255) every 100 iterations.
max_iters = 500
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters, eta_min=0.0),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=100)
val_cfg = dict(type='ValLoop')
default_hooks = dict(checkpoint=dict(interval=max_iters))
