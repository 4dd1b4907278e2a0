# The field's zero-shot robustness benchmark (DESIGN.md section 2): ImageNet (5000 val images) and
# 13 zero-shot datasets, AutoAttack 'custom' (APGD-CE + APGD-T, 100 it., 9 targets; APGD-CE only for
# the binary PCam), eps 1, 2, 4 /255, 1000 robust samples per dataset ('paper' preset).
# Data are read from data/<name> and never downloaded: torchvision's layout for the torchvision
# datasets, one sub-folder per class for the image-folder ones (Caltech101: 101_ObjectCategories with
# its BACKGROUND_Google folder; EuroSAT: the RGB release's 10 folders). Class names and prompts are
# the standard zero-shot ones bundled in mmtard/datasets/metadata/.
evaluation = dict(
    preset='paper',
    attack=dict(type='AutoAttack', version='custom'),
    batch_size=64,
    seed=0,
    datasets=[
        dict(name='imagenet', dataset=dict(type='ImageFolderDataset', root='data/imagenet', split='val',
                                           image_size=224, templates='openai_imagenet', max_samples=5000)),
        dict(name='cifar10', dataset=dict(type='TorchvisionDataset', name='CIFAR10', root='data/cifar10',
                                          split='test', image_size=224)),
        dict(name='cifar100', dataset=dict(type='TorchvisionDataset', name='CIFAR100', root='data/cifar100',
                                           split='test', image_size=224)),
        dict(name='stl10', dataset=dict(type='TorchvisionDataset', name='STL10', root='data/stl10',
                                        split='test', image_size=224)),
        dict(name='cars', dataset=dict(type='TorchvisionDataset', name='StanfordCars', root='data/cars',
                                       split='test', image_size=224)),
        dict(name='caltech101', dataset=dict(type='ImageFolderDataset', root='data/caltech101', image_size=224,
                                             classnames='caltech101', templates='caltech101')),
        dict(name='pets', dataset=dict(type='TorchvisionDataset', name='OxfordIIITPet', root='data/pets',
                                       split='test', image_size=224)),
        dict(name='flowers', dataset=dict(type='TorchvisionDataset', name='Flowers102', root='data/flowers',
                                          split='test', image_size=224)),
        dict(name='dtd', dataset=dict(type='TorchvisionDataset', name='DTD', root='data/dtd', split='test',
                                      image_size=224)),
        dict(name='eurosat', dataset=dict(type='ImageFolderDataset', root='data/eurosat', image_size=224,
                                          classnames='eurosat', templates='eurosat')),
        dict(name='aircraft', dataset=dict(type='TorchvisionDataset', name='FGVCAircraft', root='data/aircraft',
                                           split='test', image_size=224)),
        dict(name='pcam', dataset=dict(type='TorchvisionDataset', name='PCAM', root='data/pcam', split='test',
                                       image_size=224)),
        dict(name='imagenet-r', dataset=dict(type='ImageFolderDataset', root='data/imagenet-r', image_size=224,
                                             templates='openai_imagenet')),
        dict(name='imagenet-sketch', dataset=dict(type='ImageFolderDataset', root='data/imagenet-sketch',
                                                  image_size=224, templates='openai_imagenet')),
    ])
