# Demo stage 2a: the clean teacher, cross-entropy fine-tuning of the teachers' base CLIP's image tower.
_base_ = ['clean-finetune_tiny-vit_none_no-attack_400it_shapes.py']

model = dict(student={{_base_.teacher_base}})
