"""Runner extensions: hooks and checkpoint loading."""
from .ddp import DeviceAwareDDP
from .hooks import NaNGuardHook, RichProgressHook, ZeroShotClassesHook

__all__ = ['DeviceAwareDDP', 'NaNGuardHook', 'RichProgressHook', 'ZeroShotClassesHook']
