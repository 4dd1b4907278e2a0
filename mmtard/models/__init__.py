"""Encoders (teachers and students), zero-shot heads, distillers and training recipes.

Importing this package registers every model component.
"""
from .base import ZeroShotModel
from .contrastive import ContrastivePretrain
from .data_preprocessor import PixelDataPreprocessor
from .distillers import MMTARD, SingleTeacherARD
from .encoders import ImageTextEncoder, OpenCLIPEncoder, TimmEncoder, parameter_report
from .teacher import FrozenTeacher
from .teacher_recipes import FARE, PMGAFT, CleanFinetune, TeCoA
from .zero_shot import ZeroShotClassifier

__all__ = ['FARE', 'MMTARD', 'PMGAFT', 'CleanFinetune', 'ContrastivePretrain', 'FrozenTeacher', 'ImageTextEncoder',
           'OpenCLIPEncoder', 'PixelDataPreprocessor', 'SingleTeacherARD', 'TeCoA', 'TimmEncoder',
           'ZeroShotClassifier', 'ZeroShotModel', 'parameter_report']
