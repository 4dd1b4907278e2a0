# Tiny open_clip models (64-d, 2 layers, 32 px) that train on a CPU in seconds: tests and quick starts.
student = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=None)
clean_teacher = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=None)
robust_teacher = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=None)
