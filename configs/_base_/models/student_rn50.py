# Student: OpenAI CLIP ResNet-50.
student = dict(type='OpenCLIPEncoder', arch='RN50', pretrained='openai')
