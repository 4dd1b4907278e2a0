# Demo student: MMT-ARD with the release's loss (ReferenceCosineWeighting), clean + TeCoA teachers.
_base_ = ['../_base_/models/demo_tiny.py', '../_base_/datasets/demo_shapes.py', '../_base_/schedules/demo_500it.py']

model = dict(
    type='MMTARD', student={{_base_.student}},
    teachers=[dict(name='clean', encoder={{_base_.clean_teacher}}, teacher_input='clean'),
              dict(name='robust', encoder={{_base_.robust_teacher}}, teacher_input='adv')],
    weighting=dict(type='ReferenceCosineWeighting', coefficients=dict(robust=50.0, clean=5.0)),
    attack={{_base_.attack}}, attack_target='clean', logit_scale={{_base_.logit_scale}},
    val_attack={{_base_.val_attack}}, cache_clean_teacher_outputs=True)
