# Weighting ablation on the tiny CPU setup: mtard weighting.
_base_ = ['../mmtard/mmtard_tiny-vit_tiny-clean-robust_pgd3-eps4_100it_shapes.py']

model = dict(weighting=dict(_delete_=True, type='MTARDWeighting', teachers=('robust', 'clean'), lr=0.025))
