"""Image-text encoders (teachers and students), their checkpoint loading and LoRA adapters."""
from .base import ImageTextEncoder, render_template
from .checkpoint import load_state_dict_file, read_checkpoint, trusted_checkpoint_globals
from .lora import apply_lora, parameter_report
from .open_clip_encoder import OpenCLIPEncoder
from .timm_encoder import TimmEncoder

__all__ = ['ImageTextEncoder', 'OpenCLIPEncoder', 'TimmEncoder', 'apply_lora', 'load_state_dict_file',
           'parameter_report', 'read_checkpoint', 'render_template', 'trusted_checkpoint_globals']
