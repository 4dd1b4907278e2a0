"""The families of models `mmtard eval --model NAME` can name: the ``MODEL_SOURCES`` registry.

Each source says which names are its own and turns one, with ``--pretrained``, ``--text-tower`` and
``--text-pretrained``, into a STUDENTS config. They are asked in registration order, the built-ins
first (open_clip's architectures, then timm's backbones), then plugins', so a plugin's names never
shadow a built-in's; a plugin encoder registers its own source beside it (docs/interfaces.md).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..errors import ConfigError, did_you_mean
from ..registry import MODEL_SOURCES

#: ``--pretrained`` value that asks timm for its own pretrained backbone weights.
TIMM_PRETRAINED = 'timm'


class EncoderSource:
    """A family of models ``--model`` names (``MODEL_SOURCES`` registry): :meth:`handles` says whether
    a name is one of them, :meth:`encoder_config` builds its STUDENTS config, :meth:`names` (optional)
    lists names for a did-you-mean."""

    def handles(self, model: str) -> bool:
        raise NotImplementedError

    def encoder_config(self, model: str, pretrained: Optional[str], text_tower: Optional[str],
                       text_pretrained: Optional[str]) -> Dict[str, Any]:
        raise NotImplementedError

    def names(self) -> List[str]:
        return []

    @staticmethod
    def paired_text_tower(model: str, text_tower: Optional[str], text_pretrained: Optional[str]) -> Dict[str, Any]:
        """The ``text_tower`` option of an image backbone without a text side (a
        :class:`~mmtard.models.encoders.paired_text_tower.PairedTextTowerEncoder`), from ``--text-tower``."""
        if text_tower is None:
            raise ConfigError(f'{model!r} is an image backbone: zero-shot evaluation needs a text tower to pair it '
                              f'with. Pass --text-tower ARCH (an open_clip architecture, e.g. ViT-B-32) and '
                              f'--text-pretrained TAG|FILE, as the model was trained with; or give --pretrained the '
                              f'mmtard checkpoint, which records both.')
        return dict(arch=text_tower, pretrained=text_pretrained)


@MODEL_SOURCES.register_module(name='open_clip')
class OpenCLIPSource(EncoderSource):
    """open_clip architectures (ViT-B-32, RN50, ...), with their own text tower."""

    def handles(self, model: str) -> bool:
        return model in self.names()

    def names(self) -> List[str]:
        import open_clip

        return open_clip.list_models()

    def encoder_config(self, model: str, pretrained: Optional[str], text_tower: Optional[str],
                       text_pretrained: Optional[str]) -> Dict[str, Any]:
        if text_tower is not None:
            raise ConfigError(f'--text-tower pairs an image backbone with an open_clip text tower; {model!r} is an '
                              f'open_clip CLIP with its own. Drop --text-tower.')
        return dict(type='OpenCLIPEncoder', arch=model, pretrained=pretrained)


@MODEL_SOURCES.register_module(name='timm')
class TimmSource(EncoderSource):
    """timm image backbones (resnet50, convnext_tiny, ...), paired with an open_clip --text-tower.

    ``--pretrained timm`` takes timm's own weights.
    """

    def handles(self, model: str) -> bool:
        import timm

        return timm.is_model(model)

    def encoder_config(self, model: str, pretrained: Optional[str], text_tower: Optional[str],
                       text_pretrained: Optional[str]) -> Dict[str, Any]:
        weights: Any = True if pretrained == TIMM_PRETRAINED else pretrained
        return dict(type='TimmEncoder', arch=model, pretrained=weights,
                    text_tower=self.paired_text_tower(model, text_tower, text_pretrained))


def encoder_config(model: str, pretrained: Optional[str], text_tower: Optional[str] = None,
                   text_pretrained: Optional[str] = None) -> Dict[str, Any]:
    """The STUDENTS config of ``--model`` with ``--pretrained``, from the first source that knows the name."""
    sources = {name: source() for name, source in MODEL_SOURCES.registered().items()}
    for source in sources.values():
        if source.handles(model):
            return source.encoder_config(model, pretrained, text_tower, text_pretrained)
    known = [name for source in sources.values() for name in source.names()]
    raise ConfigError(f'--model {model!r} is a model of no model source ({", ".join(sources)}; `mmtard list '
                      f'model-sources` describes each).{did_you_mean(model, known)} `python -c "import open_clip; '
                      f'print(open_clip.list_models())"` lists the open_clip architectures; weight tags go in '
                      f'--pretrained.')
