# Single-teacher adversarial distillation (the release's baseline): robust ViT-L/14 teacher on clean x,
# attack maximises KL(p_R(x) || p_S(x + delta)), loss KL(p_R(x) || p_S(x_adv)).
_base_ = ['../_base_/models/student_vit_b_32.py', '../_base_/models/teachers_vit_l_14.py',
          '../_base_/datasets/imagenet.py', '../_base_/schedules/adamw_cosine_10e.py',
          '../_base_/attacks/pgd10_momentum.py', '../_base_/default_runtime.py']

model = dict(
    type='SingleTeacherARD',
    student={{_base_.student}},
    teacher={{_base_.robust_teacher}},
    attack={{_base_.attack}},
    val_attack={{_base_.val_attack}},
    text_cache_dir='work_dirs/.cache/text',
)
