"""Runner extensions: hooks, checkpoints and mixed precision."""
from .amp import BF16AmpOptimWrapper
from .ddp import DeviceAwareDDP
from .hooks import NaNGuardHook, RandomStateHook, RichProgressHook, ZeroShotClassesHook

__all__ = ['BF16AmpOptimWrapper', 'DeviceAwareDDP', 'NaNGuardHook', 'RandomStateHook', 'RichProgressHook', 'ZeroShotClassesHook']
