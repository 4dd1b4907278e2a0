"""Runner extensions: hooks and checkpoint loading."""
from .ddp import DeviceAwareDDP
from .hooks import NaNGuardHook, RandomStateHook, RichProgressHook, ZeroShotClassesHook

__all__ = ['DeviceAwareDDP', 'NaNGuardHook', 'RandomStateHook', 'RichProgressHook', 'ZeroShotClassesHook']
