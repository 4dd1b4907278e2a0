# MMT-ARD, the release's recipe at train eps 4/255 with another student:
# an ImageNet timm ResNet-50 with a projection into CLIP ViT-B/32's text
# space. Not a student of the release: mmtard's example of a non-CLIP backbone.
# Everything else, and every departure from the release, as in the ViT-B/32 config this inherits.
_base_ = ['./mmtard_vit-b-32_vit-l-14-ce-pmg-aft_pgd10-eps4_5000it-b512_imagenet.py']

model = dict(student=dict(_delete_=True, type='TimmEncoder', arch='resnet50', pretrained=True,
                     text_tower=dict(arch='ViT-B-32', pretrained='openai')))
