# Demo student "undefended": the same budget as the robust students, clean fine-tuning only.
_base_ = ['../_base_/models/demo_tiny.py', '../_base_/datasets/demo_shapes.py', '../_base_/schedules/demo_500it.py']

model = dict(type='CleanFinetune', student={{_base_.student}}, logit_scale={{_base_.logit_scale}},
             val_attack={{_base_.val_attack}})
