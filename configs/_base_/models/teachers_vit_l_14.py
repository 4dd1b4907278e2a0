# The MMT-ARD release's teachers, both CLIP ViT-L/14 from OpenAI weights:
#   clean  - fine-tuned on clean ImageNet with cross-entropy (configs/teachers/clean-finetune_vit-l-14_*);
#   robust - PMG-AFT adversarial fine-tuning (configs/teachers/pmg-aft_vit-l-14_*).
# The release has not published either file; make them with the teacher recipes or point at your own.
# Both derive from OpenAI CLIP, whose activation is QuickGELU: a weight file cannot tell, so say it.
# The robust teacher is set up for an image-tower-only file (as published robust checkpoints and the
# release's teacher files are): `text_pretrained` supplies the unchanged OpenAI text tower. The clean
# teacher is set up for the file mmtard's clean recipe writes, which holds both towers. Loading tells
# you if a file is the other kind: add or drop text_pretrained='openai' accordingly.
clean_teacher = dict(type='OpenCLIPEncoder', arch='ViT-L-14', pretrained='checkpoints/vit-l-14_clean-ce.pt',
                     quick_gelu=True)
robust_teacher = dict(type='OpenCLIPEncoder', arch='ViT-L-14', pretrained='checkpoints/vit-l-14_pmg-aft.pt',
                      text_pretrained='openai', quick_gelu=True)
# mmtard's earlier robust teacher (the `-tecoa` variant configs): TeCoA at eps 4/255.
tecoa_robust_teacher = dict(type='OpenCLIPEncoder', arch='ViT-L-14', pretrained='checkpoints/vit-l-14_tecoa-eps4.pt',
                            text_pretrained='openai', quick_gelu=True)
