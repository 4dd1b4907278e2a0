# The demo chain's models: the students start from the contrastively pretrained tiny CLIP (stage 1a);
# both teachers from a separately pretrained CLIP 3.7x its size (stage 1b), as the paper's ViT-L-14
# teachers are larger than and independent of its ViT-B-32 student.
# `mmtard demo` fills in the checkpoints of earlier stages (its folders are keyed by a fingerprint of
# their settings); to run one stage alone, point these at them, e.g.
#   mmtard train CONFIG -o model.student.pretrained=work_dirs/demo/base/<fingerprint>/seed0/iter_1200.pth
# The tiny CLIP learns a logit scale of about 19, so the demo scores zero-shot logits at scale 20
# rather than real CLIP's 100.
base_checkpoint = 'work_dirs/demo/base/iter_1200.pth'
teacher_base_checkpoint = 'work_dirs/demo/teacher-base/iter_1200.pth'
clean_teacher_checkpoint = 'work_dirs/demo/clean-teacher/iter_400.pth'
robust_teacher_checkpoint = 'work_dirs/demo/robust-teacher/iter_500.pth'
logit_scale = 20.0
student = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=base_checkpoint)
teacher_base = dict(type='OpenCLIPEncoder', arch='mmtard-small-vit', pretrained=teacher_base_checkpoint)
clean_teacher = dict(type='OpenCLIPEncoder', arch='mmtard-small-vit', pretrained=clean_teacher_checkpoint)
robust_teacher = dict(type='OpenCLIPEncoder', arch='mmtard-small-vit', pretrained=robust_teacher_checkpoint)
# The paper's training radius (4/255) and the release's attack shape: PGD with uniform random start,
# step 1/255, momentum 0.9. Departure: 5 steps instead of 10 (the CPU budget; 5 steps of 1/255 from a
# random start still reach the 4/255 boundary).
train_eps = 4
attack = dict(type='PGD', eps=train_eps, steps=5, step_size=1, momentum=0.9, random_start=True)
# The robust teachers' PMG-AFT attack: PGD-3 at the training eps, step 2.5 eps / 3 (CPU budget).
robust_teacher_attack = dict(type='PGD', eps=train_eps, steps=3, step_size=2.5 * train_eps / 3, random_start=True)
# Validation (the accuracy-along-training curves): a fixed, seeded PGD-10 at the training eps.
val_attack = dict(type='PGD', eps=train_eps, steps=10, step_size=1, random_start=True, seed=0)
