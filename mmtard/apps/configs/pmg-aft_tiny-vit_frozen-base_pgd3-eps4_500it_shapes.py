# The robust-teacher recipe: PMG-AFT, as the release's robust teacher, trained at the students' eps
# (4/255) from a base CLIP it keeps frozen as its "original" model; on the student's own base here (the
# study's same-base teacher), on the teachers' larger base in the demo's (pmg-aft_small-vit_...).
# Departure: PGD-3 with step 2.5 * eps / 3 instead of PGD-10 (CPU budget); the report gives the
# teacher's own clean and robust accuracy, so its strength is measured, not assumed.
_base_ = ['_base_/models.py', '_base_/data.py', '_base_/schedule.py']

model = dict(type='PMGAFT', student={{_base_.student}}, logit_scale={{_base_.logit_scale}},
             attack={{_base_.robust_teacher_attack}},
             val_attack={{_base_.val_attack}})
