# MMT-ARD, the release's recipe at train eps 2/255 with another student:
# OpenAI CLIP ResNet-101 (a student the release trains too).
# Everything else, and every departure from the release, as in the ViT-B/32 config this inherits.
_base_ = ['./mmtard_vit-b-32_vit-l-14-ce-pmg-aft_pgd10-eps2_5000it-b512_imagenet.py']

model = dict(student=dict(_delete_=True, type='OpenCLIPEncoder', arch='RN101', pretrained='openai'))
