# An epoch-based schedule: AdamW lr 2e-5, weight decay 1e-4, 7% linear warm-up then cosine, 10 epochs.
# mmtard's earlier choice for the paper configs (now their `10e` variants) and the teacher recipes;
# the MMT-ARD release itself trains 5000 steps at batch 512 (adamw_cosine_5000it.py).
# The effective batch is batch_size x processes; lr 2e-5 is meant for an effective batch of 128:
# for another batch B use lr = 2e-5 * B / 128, or auto_scale_lr.enable=True, which does exactly that.
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
