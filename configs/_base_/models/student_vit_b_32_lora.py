# Student: CLIP ViT-B/32 with LoRA on attention (the release's r=16, alpha=16, dropout 0.1; ~1% trainable).
student = dict(type='OpenCLIPEncoder', arch='ViT-B-32', pretrained='openai',
               lora=dict(r=16, alpha=16, dropout=0.1))
