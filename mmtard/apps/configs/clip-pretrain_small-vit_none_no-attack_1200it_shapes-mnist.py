# Demo stage 1b: the teachers' own base CLIP, pretrained separately from the student's (its own stage
# and seed) on the same data, 3.7x the student's image-tower parameters (width 128 instead of 64): as
# the paper's ViT-L-14 teachers are larger than, and independent of, its ViT-B-32 student.
_base_ = ['clip-pretrain_tiny-vit_none_no-attack_1200it_shapes-mnist.py']

model = dict(student=dict(arch='mmtard-small-vit'))
