# MMT-ARD, the paper's setup at eps 4/255 with another student: CLIP ViT-B/32 with LoRA on attention (the release's r=16, alpha=16, dropout 0.1; ~1% trainable).
_base_ = ['./mmtard_vit-b-32_vit-l-14-clean-robust_pgd10-eps4_10e_imagenet.py']

model = dict(student=dict(_delete_=True, type='OpenCLIPEncoder', arch='ViT-B-32', pretrained='openai',
                     lora=dict(r=16, alpha=16, dropout=0.1)))
