# The field's zero-shot robustness benchmark as the MMT-ARD release ran it ('mmt-ard-release' preset,
# mmtard/evaluation/spec.py): ImageNet, 5000 val images (max_samples: 5 per class; the release used
# RobustBench's fixed list of 5000: give its imagenet_test_image_ids.txt as image_list= in the imagenet
# entry to evaluate on exactly those), all of them attacked; 13 zero-shot datasets, clean accuracy on
# the whole test split and robust accuracy on 1000 seeded random samples (CLIP_benchmark's shuffled
# loader); AutoAttack 'custom' (APGD-CE with 5 restarts + APGD-T with 9 targets, 100 it. each;
# APGD-CE alone for the binary PCam); eps 1, 2, 4 /255. Results name the attack with its budget and
# the sampling used. `-o evaluation.sampling=class-balanced-random` spreads the samples over classes.
# Data are read from data/<name> and never downloaded: torchvision's layout for the torchvision
# datasets, one sub-folder per class for the image-folder ones (Caltech101: 101_ObjectCategories with
# its BACKGROUND_Google folder; EuroSAT: the RGB release's 10 folders). Class names and prompts are
# the standard zero-shot ones bundled in mmtard/datasets/metadata/.
evaluation = dict(
    preset='mmt-ard-release',
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
