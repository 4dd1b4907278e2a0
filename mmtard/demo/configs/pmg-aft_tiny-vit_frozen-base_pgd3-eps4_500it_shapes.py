# Demo stage 2b: the robust teacher, TeCoA (CE on adversarial zero-shot logits), PGD-3 at 8/255.
_base_ = ['../_base_/models/demo_tiny.py', '../_base_/datasets/demo_shapes.py', '../_base_/schedules/demo_500it.py']

model = dict(type='TeCoA', student={{_base_.student}}, logit_scale={{_base_.logit_scale}},
             attack=dict(type='PGD', eps=8, steps=3, step_size=2.5 * 8 / 3, random_start=True),
             val_attack={{_base_.val_attack}})
