# MMT-ARD on the tiny model and synthetic shapes: trains on a CPU in seconds (random weights unless
# you point the teachers at checkpoints, e.g. those `mmtard demo` makes).
_base_ = ['../_base_/models/tiny.py', '../_base_/datasets/shapes.py', '../_base_/schedules/tiny_100it.py',
          '../_base_/attacks/pgd10_momentum.py']

model = dict(
    type='MMTARD',
    student={{_base_.student}},
    teachers=[
        dict(name='clean', encoder={{_base_.clean_teacher}}, teacher_input='clean'),
        dict(name='robust', encoder={{_base_.robust_teacher}}, teacher_input='adv'),
    ],
    weighting=dict(type='ReferenceCosineWeighting', coefficients=dict(robust=50.0, clean=5.0)),
    attack=dict(type='PGD', eps=4, steps=3, step_size=2, momentum=0.9, random_start=True),
    attack_target='clean',
    val_attack=dict(type='PGD', eps=4, steps=5, step_size=2),
)
