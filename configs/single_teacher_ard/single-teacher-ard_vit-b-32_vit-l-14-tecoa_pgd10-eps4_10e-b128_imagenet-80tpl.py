# Single-teacher ARD with mmtard's earlier choices (the baseline of
# configs/mmtard/mmtard_vit-b-32_vit-l-14-ce-tecoa_pgd10-eps4_10e-b128_imagenet-80tpl.py): TeCoA
# ViT-L/14 teacher, 10 epochs at batch 128 per process, CLIP's 80 ImageNet prompts as targets.
_base_ = ['../_base_/models/student_vit_b_32.py', '../_base_/models/teachers_vit_l_14.py',
          '../_base_/datasets/imagenet.py', '../_base_/schedules/adamw_cosine_10e.py',
          '../_base_/attacks/pgd10_momentum.py', '../_base_/default_runtime.py']

model = dict(
    type='SingleTeacherARD',
    student={{_base_.student}},
    teacher={{_base_.tecoa_robust_teacher}},
    attack={{_base_.attack}},
    val_attack={{_base_.val_attack}},
    logit_scale=100.0,
    text_cache_dir='work_dirs/.cache/text',
    # ImageNet without augmentation: an index always names the same pixels, so the clean-input teacher's
    # outputs are computed once (first epoch, or `mmtard cache-teacher`) into one file per machine
    cache_clean_teacher_outputs=True,
)
train_dataloader = dict(dataset=dict(templates='openai_imagenet'))
val_dataloader = dict(dataset=dict(templates='openai_imagenet'))
