"""The models' way in and out of mmtard: model sources (how `mmtard eval --model NAME` becomes an
encoder), exporters (how a trained student leaves, in formats open_clip and timm load), their
contracts for plugins, loading trained students from checkpoints, and the export's model card.

It sits below :mod:`mmtard.apis`: plugin authors subclass :class:`~.exporters.Exporter` and
:class:`~.model_sources.EncoderSource` from here, and the entry points (export, eval) use it.
"""
