# The paper's teachers: CLIP ViT-L/14 fine-tuned on clean ImageNet, and an adversarially fine-tuned
# ViT-L/14 (TeCoA / PMG-AFT / FARE). Make them with configs/teachers/ or point at published files:
# a full CLIP state dict or a vision-only one (.pt or .safetensors) both load.
clean_teacher = dict(type='OpenCLIPEncoder', arch='ViT-L-14', pretrained='checkpoints/vit-l-14_clean.pt')
robust_teacher = dict(type='OpenCLIPEncoder', arch='ViT-L-14', pretrained='checkpoints/vit-l-14_tecoa-eps4.pt')
