"""mmtard: multi-teacher adversarial robust distillation for CLIP-style models."""
__version__ = '0.1.0'
