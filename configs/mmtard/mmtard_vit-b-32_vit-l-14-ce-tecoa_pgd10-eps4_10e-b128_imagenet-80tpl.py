# MMT-ARD with mmtard's earlier choices instead of the release's recipe, kept for comparison:
# a TeCoA ViT-L/14 robust teacher (eps 4/255) instead of PMG-AFT; 10 epochs at batch 128 per process
# (about 100k steps on one process, 20x the release's 5000 at 512) with the same AdamW 2e-5, 7%
# warm-up, cosine; CLIP's 80 ImageNet prompts as training targets instead of the release's one.
# Student, loss, attack and data pipeline as in the release-recipe config
# (mmtard_vit-b-32_vit-l-14-ce-pmg-aft_pgd10-eps4_5000it-b512_imagenet.py).
_base_ = ['../_base_/models/student_vit_b_32.py', '../_base_/models/teachers_vit_l_14.py',
          '../_base_/datasets/imagenet.py', '../_base_/schedules/adamw_cosine_10e.py',
          '../_base_/attacks/pgd10_momentum.py', '../_base_/default_runtime.py']

model = dict(
    type='MMTARD',
    student={{_base_.student}},
    teachers=[
        dict(name='clean', encoder={{_base_.clean_teacher}}, teacher_input='clean'),
        dict(name='robust', encoder={{_base_.tecoa_robust_teacher}}, teacher_input='adv'),
    ],
    weighting=dict(type='ReferenceCosineWeighting', coefficients=dict(robust=50.0, clean=5.0)),
    attack={{_base_.attack}},
    attack_target='clean',
    val_attack={{_base_.val_attack}},
    logit_scale=100.0,
    text_cache_dir='work_dirs/.cache/text',
    # ImageNet without augmentation: an index always names the same pixels, so the clean-input teacher's
    # outputs are computed once (first epoch, or `mmtard cache-teacher`) into one file per machine
    cache_clean_teacher_outputs=True,
)
train_dataloader = dict(dataset=dict(templates='openai_imagenet'))
val_dataloader = dict(dataset=dict(templates='openai_imagenet'))
