"""Runner extensions: hooks and checkpoint loading."""
from .hooks import NaNGuardHook, RichProgressHook, ZeroShotClassesHook

__all__ = ['NaNGuardHook', 'RichProgressHook', 'ZeroShotClassesHook']
