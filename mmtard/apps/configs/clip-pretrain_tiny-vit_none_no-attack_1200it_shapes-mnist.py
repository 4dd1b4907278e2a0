# Demo stage 1: a small CLIP trained contrastively, offline, on captioned synthetic shapes (seen
# colour-shape combinations only) and real MNIST digits. Both towers train; the temperature is learned.
_base_ = ['_base_/runtime.py']

max_iters = 1200
cache_dir = 'work_dirs/.cache/shapes'
model = dict(
    type='ContrastivePretrain',
    student=dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=None, freeze_text=False),
)
train_dataloader = dict(
    batch_size=128, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ConcatCaptions', datasets=[
        dict(type='ShapesDataset', split='train', classes='seen', num_samples=20000, cache_dir=cache_dir,
             return_caption=True),
        dict(type='ClassCaptions', dataset=dict(type='MNISTDigits', split='train')),
    ]))
val_dataloader = dict(
    batch_size=256, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ShapesDataset', split='val', classes='seen', num_samples=512, cache_dir=cache_dir))
val_evaluator = dict(type='ZeroShotAccuracy')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=0.0),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=400)
val_cfg = dict(type='ValLoop')
default_hooks = dict(checkpoint=dict(interval=max_iters))
