# The demo chain's models: every stage starts from the contrastively pretrained tiny CLIP (stage 1).
# `mmtard demo` fills in the checkpoints of earlier stages (its folders are keyed by a fingerprint of
# their settings); to run one stage alone, point these at them, e.g.
#   mmtard train CONFIG -o model.student.pretrained=work_dirs/demo/base/<fingerprint>/iter_1200.pth
# The tiny CLIP learns a logit scale of about 19, so the demo scores zero-shot logits at scale 20
# rather than real CLIP's 100.
base_checkpoint = 'work_dirs/demo/base/iter_1200.pth'
clean_teacher_checkpoint = 'work_dirs/demo/clean-teacher/iter_400.pth'
robust_teacher_checkpoint = 'work_dirs/demo/robust-teacher/iter_500.pth'
logit_scale = 20.0
student = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=base_checkpoint)
clean_teacher = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=clean_teacher_checkpoint)
robust_teacher = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=robust_teacher_checkpoint)
# Training attack of the students: PGD-3 at 8/255 with the release's momentum; validation PGD-5.
attack = dict(type='PGD', eps=8, steps=3, step_size=3, momentum=0.9, random_start=True)
val_attack = dict(type='PGD', eps=8, steps=5, step_size=2, random_start=True, seed=0)
