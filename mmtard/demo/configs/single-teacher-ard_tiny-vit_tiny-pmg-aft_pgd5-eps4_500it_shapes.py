# Demo student: single-teacher ARD from the TeCoA teacher (the release's baseline).
_base_ = ['../_base_/models/demo_tiny.py', '../_base_/datasets/demo_shapes.py', '../_base_/schedules/demo_500it.py']

model = dict(type='SingleTeacherARD', student={{_base_.student}}, teacher={{_base_.robust_teacher}},
             attack={{_base_.attack}}, logit_scale={{_base_.logit_scale}}, val_attack={{_base_.val_attack}},
             cache_clean_teacher_outputs=True)
