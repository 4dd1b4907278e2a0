# Single-teacher ARD, the release's baseline at train eps 2/255 (its README's setting), to compare with
# the MMT-ARD eps-2 config. Everything else, and every departure from the release, as in the eps-4
# config this inherits.
_base_ = ['./single-teacher-ard_vit-b-32_vit-l-14-pmg-aft_pgd10-eps4_5000it-b512_imagenet.py']

model = dict(attack=dict(eps=2), val_attack=dict(eps=2))
