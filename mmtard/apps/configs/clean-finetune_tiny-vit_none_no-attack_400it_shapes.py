# The clean-teacher recipe (cross-entropy fine-tuning of an image tower) on the student's own base CLIP:
# the study's same-base teachers, which share the student's origin and architecture.
_base_ = ['_base_/models.py', '_base_/data.py', '_base_/schedule.py']

max_iters = 400
model = dict(type='CleanFinetune', student={{_base_.student}}, logit_scale={{_base_.logit_scale}},
             val_attack={{_base_.val_attack}})
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters, eta_min=0.0),
]
train_cfg = dict(max_iters=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
