# The embedded demo's data: the pre-rendered pool of seen colour-shape combinations (20k images,
# rendered once and cached), validated on 512 held-back images of the same classes.
cache_dir = 'work_dirs/.cache/shapes'
train_dataloader = dict(
    batch_size=128, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ShapesDataset', split='train', classes='seen', num_samples=20000, cache_dir=cache_dir))
val_dataloader = dict(
    batch_size=256, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ShapesDataset', split='val', classes='seen', num_samples=512, cache_dir=cache_dir))
val_evaluator = dict(type='ZeroShotAccuracy')
