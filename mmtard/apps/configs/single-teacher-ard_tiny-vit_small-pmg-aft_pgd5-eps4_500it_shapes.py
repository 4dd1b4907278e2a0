# Demo student: single-teacher ARD from the robust teacher (the release's `_origin` baseline): the
# robust teacher sees clean x, the attack maximises KL(p_R(x) || p_S(x + delta)).
_base_ = ['_base_/models.py', '_base_/data.py', '_base_/schedule.py']

model = dict(type='SingleTeacherARD', student={{_base_.student}}, teacher={{_base_.robust_teacher}},
             attack={{_base_.attack}}, logit_scale={{_base_.logit_scale}}, val_attack={{_base_.val_attack}},
             cache_clean_teacher_outputs=True,
             val_teacher_transfer=True)
