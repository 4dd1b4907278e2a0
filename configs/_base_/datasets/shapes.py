# Synthetic captioned shapes (8 colours x 8 shapes, 32 px), made offline; 13 combinations held out.
_base_ = ['../evaluation/shapes_quick.py']  # what `mmtard eval` measures on these models
train_dataloader = dict(
    batch_size=64, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ShapesDataset', split='train', classes='seen', num_samples=2048,
                 cache_dir='work_dirs/.cache/shapes'))
val_dataloader = dict(
    batch_size=128, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ShapesDataset', split='val', classes='seen', num_samples=256,
                 cache_dir='work_dirs/.cache/shapes'))
val_evaluator = dict(type='ZeroShotAccuracy')
