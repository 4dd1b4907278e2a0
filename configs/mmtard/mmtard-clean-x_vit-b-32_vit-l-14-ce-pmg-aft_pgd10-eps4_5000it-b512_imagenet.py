# MMT-ARD "clean x" recipe: the release's recipe and loss (ReferenceCosineWeighting, 50 / 5), except
# that the robust teacher scores clean x (as single-teacher ARD's teacher does) and is compared with
# the student on x_adv. Both teachers then see only clean x, so both outputs are deterministic per
# image and both are cached (one shared row file per teacher): from the second epoch a step runs no
# teacher forward at all. In the miniature study (docs/study.md) this is the arm "MMT-ARD, both
# teachers on clean x". Departure from the release: the robust teacher's input (x instead of x_adv).
_base_ = ['./mmtard_vit-b-32_vit-l-14-ce-pmg-aft_pgd10-eps4_5000it-b512_imagenet.py']

model = dict(
    teachers=[
        dict(name='clean', encoder={{_base_.clean_teacher}}, teacher_input='clean'),
        dict(name='robust', encoder={{_base_.robust_teacher}}, teacher_input='clean', student_input='adv'),
    ],
    cache_clean_teacher_outputs=True,
)
