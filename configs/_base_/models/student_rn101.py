# Student: OpenAI CLIP ResNet-101.
student = dict(type='OpenCLIPEncoder', arch='RN101', pretrained='openai')
