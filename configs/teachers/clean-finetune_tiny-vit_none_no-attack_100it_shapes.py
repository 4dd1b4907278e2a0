# Teacher recipe CleanFinetune on the tiny model and synthetic shapes (CPU, seconds).
_base_ = ['../_base_/models/tiny.py', '../_base_/datasets/shapes.py', '../_base_/schedules/tiny_100it.py']

model = dict(
    type='CleanFinetune',
    student={{_base_.student}},
)
