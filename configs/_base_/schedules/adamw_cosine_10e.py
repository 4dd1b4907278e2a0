# The paper's schedule: AdamW lr 2e-5, weight decay 1e-4, 7% linear warm-up then cosine, 10 epochs.
# The effective batch is batch_size x GPUs; scale lr linearly if you change it (auto_scale_lr below).
max_epochs = 10
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-5, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=0.07 * max_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0.07 * max_epochs, end=max_epochs,
         eta_min=0.0, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
auto_scale_lr = dict(base_batch_size=128, enable=False)
