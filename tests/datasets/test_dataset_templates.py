import pytest

from mmtard.datasets.templates import (TEMPLATE_SETS, available_metadata, get_class_names_and_templates,
                                       get_templates, imagenet_wnid_classnames, is_wnid)
from mmtard.errors import ConfigError


@pytest.mark.parametrize('name,num_classes,num_templates', [
    ('imagenet', 1000, 80), ('cifar10', 10, 18), ('CIFAR-100', 100, 18), ('stl10', 10, 2), ('MNIST', 10, 1)])
def test_class_names_and_templates(name, num_classes, num_templates):
    classnames, templates = get_class_names_and_templates(name)
    assert len(classnames) == num_classes
    assert len(set(classnames)) == num_classes - 2 * (name == 'imagenet')  # CLIP's names 'missile', 'sunglasses' twice
    assert len(templates) == num_templates
    assert all(t.count('{}') == 1 for t in templates)
    assert all('_' not in c for c in classnames)


def test_known_wording():
    assert get_class_names_and_templates('imagenet')[0][:2] == ['tench', 'goldfish']
    assert get_class_names_and_templates('imagenet')[1][0] == 'a bad photo of a {}.'
    assert get_class_names_and_templates('cifar10')[0][1] == 'automobile'
    assert get_class_names_and_templates('stl10')[1] == ['a photo of a {}.', 'a photo of the {}.']


def test_cifar100_names_follow_torchvision_label_order():
    names = get_class_names_and_templates('cifar100')[0]
    folder_style = [n.replace(' ', '_') for n in names]
    assert folder_style == sorted(folder_style)  # torchvision's fine labels are alphabetical


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(ConfigError, match="Did you mean 'cifar10'"):
        get_class_names_and_templates('cifa10')
    assert 'imagenet' in available_metadata()


def test_get_templates():
    assert get_templates('simple') == ['a photo of a {}.']
    assert len(get_templates('openai_imagenet')) == 80 == len(TEMPLATE_SETS['openai_imagenet'])
    assert len(get_templates('openai_imagenet_7')) == 7
    assert get_templates('cifar10') == get_class_names_and_templates('cifar10')[1]
    assert get_templates(['a {} here.']) == ['a {} here.']
    with pytest.raises(ConfigError, match='exactly one'):
        get_templates(['no placeholder'])
    with pytest.raises(ConfigError, match="Did you mean 'simple'"):
        get_templates('simpel')


def test_wnid_mapping():
    assert is_wnid('n01440764') and not is_wnid('dog')
    assert imagenet_wnid_classnames(['n01440764', 'n01443537', 'n15075141']) == ['tench', 'goldfish',
                                                                                 'toilet paper']
    with pytest.raises(ConfigError, match='n00000001'):
        imagenet_wnid_classnames(['n00000001'])


@pytest.mark.parametrize('name, count, first_template', [
    ('caltech101', 102, 'a photo of a {}.'), ('eurosat', 10, 'a centered satellite photo of {}.'),
    ('flowers102', 102, 'a photo of a {}, a type of flower.'), ('oxfordiiitpet', 37, 'a photo of a {}, a type of pet.'),
    ('pcam', 2, 'a histopathology slide showing {}'), ('dtd', 0, 'a photo of a {} texture.'),
    ('stanfordcars', 0, 'a photo of a {}.'), ('fgvcaircraft', 0, 'a photo of a {}, a type of aircraft.'),
])
def test_standard_zero_shot_metadata_is_bundled(name, count, first_template):
    classnames, templates = get_class_names_and_templates(name)
    assert len(classnames) == count and len(set(classnames)) == count  # 0: torchvision's own names
    assert templates[0] == first_template and all(t.count('{}') == 1 for t in templates)


def test_an_image_folder_takes_a_bundled_datasets_names_in_sorted_folder_order(tmp_path):
    from PIL import Image

    from mmtard.datasets import ImageFolderDataset

    folders = ['AnnualCrop', 'Forest', 'HerbaceousVegetation', 'Highway', 'Industrial', 'Pasture',
               'PermanentCrop', 'Residential', 'River', 'SeaLake']  # EuroSAT's RGB release
    for folder in folders:
        (tmp_path / folder).mkdir()
        Image.new('RGB', (8, 8)).save(tmp_path / folder / '0.png')
    ds = ImageFolderDataset(str(tmp_path), image_size=8, classnames='eurosat', templates='eurosat')
    assert ds.classnames[2] == 'brushland or shrubland' and ds.classnames[9] == 'lake or sea'
    assert len(ds.templates) == 3
    with pytest.raises(ConfigError, match='10 classes'):
        ImageFolderDataset(str(tmp_path), image_size=8, classnames='pcam')


def test_a_bundled_datasets_names_map_its_release_folders_by_name(tmp_path):
    from PIL import Image

    from mmtard.datasets import ImageFolderDataset

    for folder in ('SeaLake', 'Forest', 'HerbaceousVegetation'):  # a subset of EuroSAT's folders
        (tmp_path / folder).mkdir()
        Image.new('RGB', (8, 8)).save(tmp_path / folder / '0.png')
    ds = ImageFolderDataset(str(tmp_path), image_size=8, classnames='eurosat')
    assert ds.classnames == ['forest', 'brushland or shrubland', 'lake or sea']
    (tmp_path / 'Forest').rename(tmp_path / 'Woods')
    with pytest.raises(ConfigError, match=r"no class for the folders \['Woods'\]"):
        ImageFolderDataset(str(tmp_path), image_size=8, classnames='eurosat')


def test_fixed_label_datasets_take_bundled_own_or_given_names():
    from mmtard.datasets.templates import standard_class_text

    names, templates = standard_class_text('CIFAR10', ['airplane', 'automobile'] + ['x'] * 8)
    assert names[1] == 'automobile' and templates == get_class_names_and_templates('cifar10')[1]
    assert standard_class_text('Food101', ['apple_pie', 'baby_back_ribs']) == (['apple pie', 'baby back ribs'],
                                                                                ['a photo of a {}.'])
    assert standard_class_text('Food101', ['a', 'b'], ['pie', 'ribs'], 'openai_imagenet_7')[0] == ['pie', 'ribs']
    with pytest.raises(ConfigError, match='gives 1 class names but CIFAR10 has 10 classes'):
        standard_class_text('CIFAR10', [], ['one'])
    with pytest.raises(ConfigError, match='has no class names'):
        standard_class_text('Country211', [])
