# ImageNet-1k class folders on local disk (data/imagenet/{train,val}/nXXXXXXXX/*.JPEG).
_base_ = ['../evaluation/paper_zero_shot.py']  # what `mmtard eval` measures on these models
data_root = 'data/imagenet'
image_size = 224
train_dataloader = dict(
    batch_size=128, num_workers=8, persistent_workers=True, pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', root=data_root, split='train', image_size=image_size,
                 templates='openai_imagenet'))
val_dataloader = dict(
    batch_size=128, num_workers=8, persistent_workers=True, pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', root=data_root, split='val', image_size=image_size,
                 templates='openai_imagenet', max_samples=5000))
val_evaluator = dict(type='ZeroShotAccuracy')
