# MMT-ARD, the paper's setup: CLIP ViT-B/32 student, ViT-L/14 clean + robust teachers, PGD-10 at eps
# 4/255, the release's loss (ReferenceCosineWeighting), AdamW 2e-5 with 7% warm-up + cosine, ImageNet.
# The other students' configs change only model.student (e.g. `-o model.student.arch=RN50`).
_base_ = ['../_base_/models/student_vit_b_32.py', '../_base_/models/teachers_vit_l_14.py',
          '../_base_/datasets/imagenet.py', '../_base_/schedules/adamw_cosine_10e.py',
          '../_base_/attacks/pgd10_momentum.py', '../_base_/default_runtime.py']

model = dict(
    type='MMTARD',
    student={{_base_.student}},
    teachers=[
        dict(name='clean', encoder={{_base_.clean_teacher}}, teacher_input='clean'),
        dict(name='robust', encoder={{_base_.robust_teacher}}, teacher_input='adv'),
    ],
    weighting=dict(type='ReferenceCosineWeighting', coefficients=dict(robust=50.0, clean=5.0)),
    attack={{_base_.attack}},
    attack_target='clean',
    val_attack={{_base_.val_attack}},
    text_cache_dir='work_dirs/.cache/text',
)
