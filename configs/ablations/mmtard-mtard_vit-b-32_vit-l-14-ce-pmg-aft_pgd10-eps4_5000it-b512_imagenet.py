# Weighting ablation: the paper's MMT-ARD setup with mtard weighting instead of the release's loss.
_base_ = ['../mmtard/mmtard_vit-b-32_vit-l-14-clean-robust_pgd10-eps4_10e_imagenet.py']

model = dict(weighting=dict(_delete_=True, type='MTARDWeighting', teachers=('robust', 'clean'), lr=0.025))
