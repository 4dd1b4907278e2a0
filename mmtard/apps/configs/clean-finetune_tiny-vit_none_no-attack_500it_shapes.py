# Demo student "undefended": the same budget as the robust students, clean fine-tuning only.
_base_ = ['_base_/models.py', '_base_/data.py', '_base_/schedule.py']

model = dict(type='CleanFinetune', student={{_base_.student}}, logit_scale={{_base_.logit_scale}},
             val_attack={{_base_.val_attack}})
