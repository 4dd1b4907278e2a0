# Study recipe "clean x": MMT-ARD with the release's loss, but the robust teacher scores clean x (as
# single-teacher ARD's does) and is compared with the student on x_adv. Both teachers then see only
# clean x, so both outputs are deterministic per image and both are cached across epochs.
_base_ = ['./mmtard_tiny-vit_small-clean-pmg-aft_pgd5-eps4_500it_shapes.py']

model = dict(teachers=[dict(name='clean', encoder={{_base_.clean_teacher}}, teacher_input='clean'),
                       dict(name='robust', encoder={{_base_.robust_teacher}}, teacher_input='clean',
                            student_input='adv')])
