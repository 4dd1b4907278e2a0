"""Runner extensions: hooks, checkpoints and mixed precision."""
from .amp import BF16AmpOptimWrapper
from .ddp import DeviceAwareDDP
from .hooks import NaNGuardHook, RandomStateHook, RichProgressHook, ZeroShotClassesHook
from .teacher_cache_files import CleanTeacherCacheHook

__all__ = ['BF16AmpOptimWrapper', 'CleanTeacherCacheHook', 'DeviceAwareDDP', 'NaNGuardHook', 'RandomStateHook',
           'RichProgressHook', 'ZeroShotClassesHook']
