# MMT-ARD, the release's recipe at train eps 4/255 with another student:
# CLIP ViT-B/32 with LoRA on attention, as the release's `ViT-B-32-lora`
# (r=16, alpha=16, dropout 0.1 on qkv and the output projection; about 1% of the weights train).
# Everything else, and every departure from the release, as in the ViT-B/32 config this inherits.
_base_ = ['./mmtard_vit-b-32_vit-l-14-ce-pmg-aft_pgd10-eps4_5000it-b512_imagenet.py']

model = dict(student=dict(_delete_=True, type='OpenCLIPEncoder', arch='ViT-B-32', pretrained='openai',
                     lora=dict(r=16, alpha=16, dropout=0.1)))
