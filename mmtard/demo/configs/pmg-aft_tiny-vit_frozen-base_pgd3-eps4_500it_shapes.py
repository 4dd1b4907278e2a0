# Demo stage 2b: the robust teacher. PMG-AFT, as the release's robust teacher, trained at the
# students' eps (4/255) from the base CLIP, which it keeps frozen as its "original" model.
# Departure: PGD-3 with step 2.5 * eps / 3 instead of PGD-10 (CPU budget); the report gives the
# teacher's own clean and robust accuracy, so its strength is measured, not assumed.
_base_ = ['_base_/models.py', '_base_/data.py', '_base_/schedule.py']

model = dict(type='PMGAFT', student={{_base_.student}}, logit_scale={{_base_.logit_scale}},
             attack=dict(type='PGD', eps={{_base_.train_eps}}, steps=3, step_size=2.5 * 4 / 3, random_start=True),
             val_attack={{_base_.val_attack}})
