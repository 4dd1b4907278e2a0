"""Every example of docs/interfaces.md ("Adding a component") registers, builds through its registry
and computes what its docstring says."""
import pytest
import torch

from mmtard.registry import ATTACKS, DATASETS, STUDENTS, TEACHERS, WEIGHTINGS

from shared_inputs import INTERFACES_DOC as DOC, interface_examples

TINY_VIT = 'mmtard-tiny-vit'


@pytest.fixture
def example(isolated_registries):
    """Run the example that defines class ``name`` (its registration is undone after the test)."""
    def run(name):
        exec(compile(interface_examples()[name], f'{DOC.name}:{name}', 'exec'), {'__name__': f'doc_example_{name}'})
    return run


def test_the_doc_has_an_example_of_every_kind_a_plugin_can_add():
    assert sorted(interface_examples()) == ['EmbeddingShiftTask', 'FGSM', 'PixelBytesTeacher', 'SolidColours',
                                  'TorchvisionEncoder', 'WorstTeacherWeighting']


def test_weighting_example(example):
    from mmtard.weighting import TeacherTerm

    example('WorstTeacherWeighting')
    weighting = WEIGHTINGS.build(dict(type='WorstTeacherWeighting'))
    assert WEIGHTINGS.owner('WorstTeacherWeighting') == 'mmtard'  # registered outside any plugin
    empty = torch.zeros(2, 1)
    terms = {'robust': TeacherTerm('robust', 'adv', torch.tensor([[0.1, 0.2], [0.5, 0.5]]), empty, empty, empty),
             'clean': TeacherTerm('clean', 'clean', torch.tensor([[0.4, 0.4], [0.1, 0.0]]), empty, empty, empty)}
    out = weighting(terms, torch.tensor([0, 1]))
    assert out.loss.item() == pytest.approx((0.8 + 1.0) / 2)  # per sample the larger KL: 0.8 (clean), 1.0 (robust)


@pytest.mark.parametrize('norm', ['Linf', 'L2'])
def test_attack_example(example, norm):
    example('FGSM')
    attack = ATTACKS.build(dict(type='FGSM', eps=8, norm=norm))
    torch.manual_seed(0)
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    images, labels = torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    from mmtard.attacks.objectives import CrossEntropy

    adv = attack.perturb(classifier, images, CrossEntropy(labels)).adv
    delta = (adv - images).flatten(1)
    size = delta.abs().amax(dim=1) if norm == 'Linf' else delta.norm(dim=1)
    assert (size <= 8 / 255 + 1e-6).all() and adv.min() >= 0 and adv.max() <= 1
    ce = torch.nn.functional.cross_entropy
    assert ce(classifier(adv), labels, reduction='none').ge(ce(classifier(images), labels, reduction='none')).all()
    result = attack.evaluate(classifier, images, labels)
    assert result.robust.shape == (6,) and not (result.robust & ~result.clean).any()
    from mmtard.apis.eval_flags import command_line_attacks

    assert command_line_attacks()['fgsm'] == {'type': 'FGSM'}  # `mmtard eval --attack fgsm`


def test_dataset_example(example):
    from mmtard.datasets.sampling import dataset_labels

    example('SolidColours')
    dataset = DATASETS.build(dict(type='SolidColours', num_images=9, image_size=4))
    item = dataset[4]
    assert item['label'] == 1 and item['index'] == 4 and item['inputs'].shape == (3, 4, 4)
    assert item['inputs'][1].eq(1).all() and item['inputs'][[0, 2]].eq(0).all()
    assert dataset_labels(dataset) == [dataset[i]['label'] for i in range(9)]
    assert dataset.metainfo['classes'] == ('red', 'green', 'blue')


def test_student_family_example(example):
    example('TorchvisionEncoder')
    student = STUDENTS.build(dict(type='TorchvisionEncoder', arch='resnet18', image_size=32,
                                  text_tower=dict(arch=TINY_VIT)))
    embeddings = student(torch.rand(2, 3, 32, 32))
    assert embeddings.shape == (2, 64) and torch.allclose(embeddings.norm(dim=-1), torch.ones(2))
    assert student.encode_text(['a photo of a cat.']).shape == (1, 64)
    trainable = {name.split('.')[0] for name, p in student.named_parameters() if p.requires_grad}
    assert trainable == {'backbone', 'proj'}  # the text tower stays frozen
    assert {name.split('.')[0] for name in student.state_dict()} == {'backbone', 'text', 'proj'}


def test_teacher_family_example(example, tmp_path):
    from mmtard.models.teacher import FrozenTeacher

    example('PixelBytesTeacher')
    teacher = FrozenTeacher(TEACHERS.build(dict(type='PixelBytesTeacher')))
    embeddings = teacher(torch.rand(3, 3, 32, 32))  # resized to its 16 px inside
    assert embeddings.shape == (3, 32) and torch.allclose(embeddings.norm(dim=-1), torch.ones(3))
    encoder = teacher.encoder
    weights = encoder.class_embeddings(['cat', 'dog'], ['a {}.', 'the {}.'], cache_dir=str(tmp_path))
    assert weights.shape == (2, 32) and len(list(tmp_path.iterdir())) == 1
    assert torch.equal(encoder.class_embeddings(['cat', 'dog'], ['a {}.', 'the {}.'], cache_dir=str(tmp_path)),
                       weights)


def test_evaluation_task_example(example, tmp_path):
    """The task runs through the whole benchmark (plan, storage, rows) with no change outside its module:
    the attack moves embeddings more at a larger eps, and the row carries the task's numbers."""
    from mmengine.config import Config
    from mmtard.apis.eval_progress import EvaluationProgress
    from mmtard.apis.evaluate import evaluate

    example('SolidColours')
    example('EmbeddingShiftTask')
    cfg = Config(dict(model=dict(type='CleanFinetune', student=dict(type='OpenCLIPEncoder', arch=TINY_VIT)),
                      evaluation=dict(datasets=[dict(name='colours', dataset=dict(type='SolidColours', num_images=6),
                                                     task='embedding-shift')],
                                      eps=[1, 16], n_clean=6, n_robust=4, batch_size=4,
                                      retrieval_attack=dict(type='APGD', loss='ce', n_iter=3))))
    small, large = evaluate(cfg, out_dir=tmp_path / 'out', progress=EvaluationProgress())
    assert (small.task, small.n, small.n_robust, small.clean_acc) == ('embedding-shift', 6, 4, 1.0)
    assert 0.0 < large.robust_acc < small.robust_acc < 1.0
    assert small.metrics == {'mean_cosine': small.robust_acc} and small.attack_iterations == 3
