# Single-teacher ARD on the tiny model and synthetic shapes (CPU, seconds).
_base_ = ['../_base_/models/tiny.py', '../_base_/datasets/shapes.py', '../_base_/schedules/tiny_100it.py']

model = dict(
    type='SingleTeacherARD',
    student={{_base_.student}},
    teacher={{_base_.robust_teacher}},
    attack=dict(type='PGD', eps=4, steps=3, step_size=2, momentum=0.9, random_start=True),
    val_attack=dict(type='PGD', eps=4, steps=5, step_size=2),
)
