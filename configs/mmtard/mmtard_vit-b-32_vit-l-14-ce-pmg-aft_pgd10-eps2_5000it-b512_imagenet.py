# MMT-ARD, the release's recipe at train eps 2/255 (its README's command; its code defaults to 4).
# Everything else, and every departure from the release, as in the eps-4 config this inherits.
_base_ = ['./mmtard_vit-b-32_vit-l-14-ce-pmg-aft_pgd10-eps4_5000it-b512_imagenet.py']

model = dict(attack=dict(eps=2), val_attack=dict(eps=2))
