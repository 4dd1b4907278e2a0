# MMT-ARD, the paper's setup at eps 2/255 with another student: an ImageNet timm ResNet-50 with a projection into CLIP ViT-B/32's text space.
_base_ = ['./mmtard_vit-b-32_vit-l-14-clean-robust_pgd10-eps2_10e_imagenet.py']

model = dict(student=dict(_delete_=True, type='TimmEncoder', arch='resnet50', pretrained=True,
                     text_tower=dict(arch='ViT-B-32', pretrained='openai')))
