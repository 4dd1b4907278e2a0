# ImageNet-1k class folders on local disk (data/imagenet/{train,val}/nXXXXXXXX/*.JPEG), as the MMT-ARD
# release and the robust-CLIP recipes it builds on train: CLIP's 1000 OpenAI class names, ONE prompt
# 'This is a photo of a {}' (templates='this_is_a_photo'), shorter side resized to 224 (bicubic)
# then centre-cropped, no augmentation, the last incomplete batch dropped. The prompt only shapes the
# training targets: `mmtard eval` scores with each benchmark dataset's own templates (ImageNet: 80).
_base_ = ['../evaluation/paper_zero_shot.py']  # what `mmtard eval` measures on these models
data_root = 'data/imagenet'
image_size = 224
train_templates = 'this_is_a_photo'
train_dataloader = dict(
    batch_size=128, num_workers=8, persistent_workers=True, pin_memory=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', root=data_root, split='train', image_size=image_size,
                 templates=train_templates))
# Validation during training (every val_interval): 5000 class-balanced val images, same prompt.
val_dataloader = dict(
    batch_size=128, num_workers=8, persistent_workers=True, pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', root=data_root, split='val', image_size=image_size,
                 templates=train_templates, max_samples=5000))
val_evaluator = dict(type='ZeroShotAccuracy')
