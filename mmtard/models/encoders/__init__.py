"""Image-text encoders (teachers and students) and their LoRA adapters (weight files: :mod:`mmtard.checkpoint`)."""
from .base import ImageTextEncoder, render_template
from .lora import apply_lora, parameter_report
from .open_clip_encoder import OpenCLIPEncoder
from .timm_encoder import TimmEncoder

__all__ = ['ImageTextEncoder', 'OpenCLIPEncoder', 'TimmEncoder', 'apply_lora', 'parameter_report', 'render_template']
