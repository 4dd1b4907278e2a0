# Teacher recipe TeCoA: fine-tune CLIP ViT-L/14 on ImageNet to make a robust teacher for MMT-ARD.
_base_ = ['../_base_/datasets/imagenet.py', '../_base_/schedules/adamw_cosine_10e.py',
          '../_base_/default_runtime.py']

model = dict(
    type='TeCoA',
    student=dict(type='OpenCLIPEncoder', arch='ViT-L-14', pretrained='openai'),
    attack=dict(type='PGD', eps=4, steps=10, step_size=1, random_start=True),
    text_cache_dir='work_dirs/.cache/text',
)
train_dataloader = dict(batch_size=64)
