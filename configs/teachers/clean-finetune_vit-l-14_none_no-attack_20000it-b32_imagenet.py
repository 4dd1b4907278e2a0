# Teacher recipe CleanFinetune: the MMT-ARD release's clean teacher (its README: RobustVLM's
# train.adversarial_training_clip with the attack commented out): OpenAI CLIP ViT-L/14 image tower
# fine-tuned with cross-entropy on clean zero-shot logits (scale 100) over ImageNet, ONE prompt
# 'This is a photo of a {}', no augmentation; 20000 steps at batch 32, AdamW lr 1e-5 wd 1e-4,
# 1400 warm-up steps (7%) then cosine.
# Batch and learning rate: batch_size is per process; for another effective batch B the linear rule
# gives lr = 1e-5 * B / 32 (-o auto_scale_lr.enable=True); the release ran 32 on one GPU.
# Departure: as in adamw_cosine_5000it.py, warm-up starts on the first step (the release's first
# step runs at the full lr). The file written holds both towers (see teachers_vit_l_14.py).
_base_ = ['../_base_/datasets/imagenet.py', '../_base_/schedules/adamw_cosine_5000it.py']

max_iters = 20000
warmup_iters = 1400
optim_wrapper = dict(optimizer=dict(lr=1e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / warmup_iters, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, end=max_iters, eta_min=0.0),
]
train_cfg = dict(max_iters=max_iters, val_interval=2000)
default_hooks = dict(checkpoint=dict(interval=2000))
auto_scale_lr = dict(base_batch_size=32)
model = dict(
    type='CleanFinetune',
    student=dict(type='OpenCLIPEncoder', arch='ViT-L-14', pretrained='openai'),
    text_cache_dir='work_dirs/.cache/text',
)
train_dataloader = dict(batch_size=32)
