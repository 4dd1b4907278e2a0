# Weighting ablation on the tiny CPU setup: dynamic-confidence weighting.
_base_ = ['../mmtard/mmtard_tiny-vit_tiny-clean-robust_pgd3-eps4_100it_shapes.py']

model = dict(weighting=dict(_delete_=True, type='DynamicConfidenceWeighting', gamma=4.0, beta=0.0, hardness_floor=0.1))
