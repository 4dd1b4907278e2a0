# MMT-ARD, the paper's setup at eps 4/255 with another student: OpenAI CLIP ResNet-50.
_base_ = ['./mmtard_vit-b-32_vit-l-14-clean-robust_pgd10-eps4_10e_imagenet.py']

model = dict(student=dict(_delete_=True, type='OpenCLIPEncoder', arch='RN50', pretrained='openai'))
