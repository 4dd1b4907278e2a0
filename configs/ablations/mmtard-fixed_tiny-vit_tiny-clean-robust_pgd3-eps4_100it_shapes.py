# Weighting ablation on the tiny CPU setup: fixed weighting.
_base_ = ['../mmtard/mmtard_tiny-vit_tiny-clean-robust_pgd3-eps4_100it_shapes.py']

model = dict(weighting=dict(_delete_=True, type='FixedWeighting', weights=dict(robust=0.5, clean=0.5)))
