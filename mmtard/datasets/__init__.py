"""Datasets: every module is imported so its datasets register in ``mmtard.registry.DATASETS``."""
from .base import ClassificationDataset
from .captioned import ClassCaptions, ConcatCaptions
from .captions import CaptionCSVDataset
from .clip_benchmark_wds import CLIPBenchmarkClassification, CLIPBenchmarkRetrieval
from .image_folder import ImageFolderDataset
from .mnist import MNISTDigits
from .sampling import balanced_subset
from .shapes import ShapesDataset
from .templates import get_class_names_and_templates, get_templates, imagenet_wnid_classnames
from .torchvision_datasets import TorchvisionDataset
from .views import FixedViewsDataset

__all__ = ['CLIPBenchmarkClassification', 'CLIPBenchmarkRetrieval', 'ClassificationDataset', 'ClassCaptions',
           'ConcatCaptions', 'CaptionCSVDataset', 'ImageFolderDataset', 'MNISTDigits', 'ShapesDataset',
           'FixedViewsDataset', 'TorchvisionDataset', 'balanced_subset', 'get_class_names_and_templates',
           'get_templates', 'imagenet_wnid_classnames']
