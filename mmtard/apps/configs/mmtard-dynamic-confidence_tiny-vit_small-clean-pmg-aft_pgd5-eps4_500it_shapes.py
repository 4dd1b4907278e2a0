# Demo student: MMT-ARD with DynamicConfidenceWeighting (our reading of the paper's abstract).
_base_ = ['./mmtard_tiny-vit_small-clean-pmg-aft_pgd5-eps4_500it_shapes.py']

model = dict(weighting=dict(_delete_=True, type='DynamicConfidenceWeighting', gamma=4.0, beta=0.0,
                            hardness_floor=0.1))
