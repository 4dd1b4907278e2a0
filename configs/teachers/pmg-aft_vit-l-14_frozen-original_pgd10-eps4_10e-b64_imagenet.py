# Teacher recipe PMGAFT: fine-tune CLIP ViT-L/14 on ImageNet to make the robust teacher of the MMT-ARD
# release (a PMG-AFT ViT-L/14; its README points to PMG-AFT's code for it and it is not published). mmtard's
# settings here are the release's training family (AdamW 2e-5 wd 1e-4, 7% warm-up + cosine, PGD-10
# step 1/255 at its train eps 4/255, one prompt), for 10 epochs at batch 64 per process.
# PMG-AFT's reference (serendipity1122/Pre-trained-Model-Guided-Fine-Tuning-...) differs: SGD lr 5e-5
# momentum 0.9 wd 0, 1000 warm-up steps then cosine, batch 256, 10 epochs, eps 1/255 with PGD-2 step
# 1/255 (its README; code defaults eps 2, PGD-5), and its two KL terms are summed over the batch
# while CE is averaged, i.e. alpha = beta = batch size in mmtard's per-sample-mean terms
# (-o model.alpha=256 -o model.beta=256 at batch 256). The release did not say which it used.
_base_ = ['../_base_/datasets/imagenet.py', '../_base_/schedules/adamw_cosine_10e.py',
          '../_base_/default_runtime.py']

model = dict(
    type='PMGAFT',
    student=dict(type='OpenCLIPEncoder', arch='ViT-L-14', pretrained='openai'),
    attack=dict(type='PGD', eps=4, steps=10, step_size=1, random_start=True), alpha=1.0, beta=1.0,
    text_cache_dir='work_dirs/.cache/text',
)
train_dataloader = dict(batch_size=64)
