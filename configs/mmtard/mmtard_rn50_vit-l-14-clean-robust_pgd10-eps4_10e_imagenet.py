# MMT-ARD, the paper's setup: rn50 student, ViT-L/14 clean + robust teachers, PGD-10 at eps 4/255,
# the release's loss (ReferenceCosineWeighting), AdamW 2e-5 with 7% warm-up + cosine, ImageNet.
_base_ = ['../_base_/models/student_rn50.py', '../_base_/models/teachers_vit_l_14.py',
          '../_base_/datasets/imagenet.py', '../_base_/schedules/adamw_cosine_10e.py',
          '../_base_/attacks/pgd10_momentum.py', '../_base_/default_runtime.py']

train_eps = 4
model = dict(
    type='MMTARD',
    student={{_base_.student}},
    teachers=[
        dict(name='clean', encoder={{_base_.clean_teacher}}, teacher_input='clean'),
        dict(name='robust', encoder={{_base_.robust_teacher}}, teacher_input='adv'),
    ],
    weighting=dict(type='ReferenceCosineWeighting', coefficients=dict(robust=50.0, clean=5.0)),
    attack=dict(type='PGD', eps=train_eps, steps=10, step_size=1, momentum=0.9, random_start=True),
    attack_target='clean',
    val_attack=dict(type='APGD', eps=train_eps, loss='ce', n_iter=10),
    text_cache_dir='work_dirs/.cache/text',
)
