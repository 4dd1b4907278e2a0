# Demo stage 2b: the robust teacher, PMG-AFT (the release's kind) from the teachers' base CLIP, which it
# keeps frozen as its "original" model; trained at the students' eps (the study also trains one at 2/255).
_base_ = ['pmg-aft_tiny-vit_frozen-base_pgd3-eps4_500it_shapes.py']

model = dict(student={{_base_.teacher_base}})
