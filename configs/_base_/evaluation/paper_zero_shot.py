# The paper's zero-shot benchmark ships inside the package (`mmtard eval --dataset NAME` reads its dataset
# names there, also from a pip install): this file only points configs at it.
_base_ = ['../../../mmtard/evaluation/configs/paper_zero_shot.py']
