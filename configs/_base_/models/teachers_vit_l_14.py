# The paper's teachers: CLIP ViT-L/14 fine-tuned on clean ImageNet, and an adversarially fine-tuned
# ViT-L/14 (TeCoA / PMG-AFT / FARE). Make them with configs/teachers/ or point at published files.
# Both derive from OpenAI CLIP, whose activation is QuickGELU: a weight file cannot tell, so say it.
# A published robust checkpoint usually holds only the image tower: `text_pretrained` supplies the
# (unchanged) OpenAI text tower. Files written by mmtard's teacher recipes hold both towers.
clean_teacher = dict(type='OpenCLIPEncoder', arch='ViT-L-14', pretrained='checkpoints/vit-l-14_clean.pt',
                     quick_gelu=True)
robust_teacher = dict(type='OpenCLIPEncoder', arch='ViT-L-14', pretrained='checkpoints/vit-l-14_tecoa-eps4.pt',
                      text_pretrained='openai', quick_gelu=True)
