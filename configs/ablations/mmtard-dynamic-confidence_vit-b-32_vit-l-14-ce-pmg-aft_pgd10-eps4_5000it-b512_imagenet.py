# Weighting ablation: the MMT-ARD release-recipe config with dynamic-confidence weighting instead of the release's loss.
_base_ = ['../mmtard/mmtard_vit-b-32_vit-l-14-ce-pmg-aft_pgd10-eps4_5000it-b512_imagenet.py']

model = dict(weighting=dict(_delete_=True, type='DynamicConfidenceWeighting', gamma=4.0, beta=0.0, hardness_floor=0.1))
