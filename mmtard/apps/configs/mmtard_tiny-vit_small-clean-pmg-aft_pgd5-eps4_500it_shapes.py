# Demo student: MMT-ARD as the release runs it: the release's loss (ReferenceCosineWeighting, 50 / 5),
# clean teacher on x, robust teacher on x_adv, attack towards the clean teacher's clean output.
_base_ = ['_base_/models.py', '_base_/data.py', '_base_/schedule.py']

model = dict(
    type='MMTARD', student={{_base_.student}},
    teachers=[dict(name='clean', encoder={{_base_.clean_teacher}}, teacher_input='clean'),
              dict(name='robust', encoder={{_base_.robust_teacher}}, teacher_input='adv')],
    weighting=dict(type='ReferenceCosineWeighting', coefficients=dict(robust=50.0, clean=5.0)),
    attack={{_base_.attack}}, attack_target='clean', logit_scale={{_base_.logit_scale}},
    val_attack={{_base_.val_attack}}, cache_clean_teacher_outputs=True,
    val_teacher_transfer=True)
