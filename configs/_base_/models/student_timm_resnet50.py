# Student: an ImageNet timm ResNet-50 with a projection into CLIP ViT-B/32's text space.
student = dict(type='TimmEncoder', arch='resnet50', pretrained=True,
               text_tower=dict(arch='ViT-B-32', pretrained='openai'))
