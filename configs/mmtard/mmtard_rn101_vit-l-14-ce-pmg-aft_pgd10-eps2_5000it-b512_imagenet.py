# MMT-ARD, the paper's setup at eps 2/255 with another student: OpenAI CLIP ResNet-101.
_base_ = ['./mmtard_vit-b-32_vit-l-14-clean-robust_pgd10-eps2_10e_imagenet.py']

model = dict(student=dict(_delete_=True, type='OpenCLIPEncoder', arch='RN101', pretrained='openai'))
