# MMT-ARD, the paper's setup at eps 2/255 (the release README's setting); otherwise as at eps 4.
_base_ = ['./mmtard_vit-b-32_vit-l-14-clean-robust_pgd10-eps4_10e_imagenet.py']

model = dict(attack=dict(eps=2), val_attack=dict(eps=2))
