# Weighting ablation: the MMT-ARD release-recipe config with fixed weighting instead of the release's loss.
_base_ = ['../mmtard/mmtard_vit-b-32_vit-l-14-ce-pmg-aft_pgd10-eps4_5000it-b512_imagenet.py']

model = dict(weighting=dict(_delete_=True, type='FixedWeighting', weights=dict(robust=0.5, clean=0.5)))
