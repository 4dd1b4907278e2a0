# Teacher recipe PMGAFT on the tiny model and synthetic shapes (CPU, seconds).
_base_ = ['../_base_/models/tiny.py', '../_base_/datasets/shapes.py', '../_base_/schedules/tiny_100it.py']

model = dict(
    type='PMGAFT',
    student={{_base_.student}},
    attack=dict(type='PGD', eps=4, steps=3, step_size=2, random_start=True), alpha=1.0, beta=1.0,
)
