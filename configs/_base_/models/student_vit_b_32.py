# Student: OpenAI CLIP ViT-B/32 image tower (text tower frozen, used for class embeddings only).
student = dict(type='OpenCLIPEncoder', arch='ViT-B-32', pretrained='openai')
