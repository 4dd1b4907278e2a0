"""`mmtard eval` without a config (open_clip / CLIP_benchmark style flags), and flags over a config."""
import json

import torch
import pytest
from click.testing import CliRunner
from PIL import Image

from mmtard.cli.eval import eval_command

from eval_helpers import image_folder, spy_class_embeddings, write_config

pytestmark = pytest.mark.usefixtures('one_thread')  # the tiny model is fastest on one thread

def run(*args):
    return CliRunner().invoke(eval_command, [str(a) for a in args])


def rows(out):
    return json.loads((out / 'results.json').read_text())


def test_eval_without_a_config_on_an_image_folder(tmp_path, checkpoint):
    folder = image_folder(tmp_path / 'my_photos')
    result = run('--model', 'mmtard-tiny-vit', '--pretrained', checkpoint, '--dataset', folder, '--eps', 1, 2,
                 '--n-clean', 6, '--n-robust', 3, '--n-iter', 2, '--out', tmp_path / 'out', '-o',
                 'evaluation.batch_size=3')
    assert result.exit_code == 0, result.output
    assert "image_size is not set, so images are resized to the model's input size, 32 px" in ' '.join(
        result.output.split())
    records = rows(tmp_path / 'out')
    assert [(r['dataset'], r['eps'], r['n'], r['n_robust']) for r in records] == [
        ('my_photos', 1.0, 6, 3), ('my_photos', 2.0, 6, 3)]
    assert records[0]['attack'] == 'APGD-CE (2 it, 5 restarts) [reduced]'  # 3 classes: APGD-T needs 4
    # the same weights as a plain open_clip state dict give the same model and the same numbers
    from mmtard.models.encoders import OpenCLIPEncoder
    encoder = OpenCLIPEncoder('mmtard-tiny-vit', pretrained=checkpoint)
    torch.save(encoder.model.state_dict(), tmp_path / 'open_clip.pt')
    again = run('--model', 'mmtard-tiny-vit', '--pretrained', tmp_path / 'open_clip.pt', '--dataset', folder,
                '--n-clean', 6, '--eps', 1, '--n-robust', 3, '--n-iter', 2, '--out', tmp_path / 'again')
    assert again.exit_code == 0, again.output
    assert rows(tmp_path / 'again')[0]['model_checksum'] == records[0]['model_checksum']
    assert rows(tmp_path / 'again')[0]['clean_acc'] == records[0]['clean_acc']


def test_flags_override_a_config(tmp_path, shapes, checkpoint):
    config = write_config(tmp_path / 'eval_cfg.py', f"evaluation = dict(datasets=[{shapes(16)!r}], n_clean=16, "
                                                    f"n_robust=8, eps=[2], batch_size=8, "
                                                    f"attack=dict(type='AutoAttack', n_iter=3))\n")
    result = run(config, '--pretrained', checkpoint, '--eps', 1, 4, '--n-robust', 4, '--attack', 'apgd-ce',
                 '--n-iter', 2, '--out', tmp_path / 'out')
    assert result.exit_code == 0, result.output
    records = rows(tmp_path / 'out')
    assert [(r['eps'], r['n'], r['n_robust']) for r in records] == [(1.0, 16, 4), (4.0, 16, 4)]  # n_clean: config's
    assert records[0]['attack'] == 'APGD-CE (2 it, 5 restarts) [reduced]'
    plain = run(config, '--out', tmp_path / 'plain', '--eps', 1, '--n-robust', 4, '--attack', 'apgd-ce', '--n-iter', 2)
    assert plain.exit_code == 0, plain.output
    assert rows(tmp_path / 'plain')[0]['model_checksum'] != records[0]['model_checksum']  # --pretrained took effect
    # the values of --eps end at the CONFIG argument
    later = run('--eps', 1, 2, config, '--out', tmp_path / 'later', '--n-robust', 2, '--n-iter', 1)
    assert later.exit_code == 0, later.output
    assert [r['eps'] for r in rows(tmp_path / 'later')] == [1.0, 2.0]


def test_command_line_mistakes_are_one_clear_paragraph(tmp_path):
    nothing = run('--dataset', tmp_path)
    assert nothing.exit_code == 2 and '--model ARCH --pretrained' in nothing.output
    unknown = run('--model', 'mmtard-tiny-vit', '--dataset', 'cifar-10')
    assert unknown.exit_code == 2 and "'cifar10'" in unknown.output and 'imagenet-sketch' in unknown.output
    missing = run('--model', 'mmtard-tiny-vit', '--dataset', 'cifar10', '--data-root', tmp_path / 'data',
                  '--out', tmp_path / 'out')
    assert missing.exit_code == 2 and str(tmp_path / 'data' / 'cifar10') in ' '.join(missing.output.split())
    arch = run('--model', 'ViT-B-3', '--dataset', image_folder(tmp_path / 'f'), '--out', tmp_path / 'out2')
    assert arch.exit_code == 2 and "'ViT-B-32'" in arch.output
    for result in (nothing, unknown, missing, arch):
        assert 'Traceback' not in result.output


def test_pretrained_takes_a_training_checkpoint_with_its_own_architecture(tmp_path, checkpoint):
    from mmengine.config import Config

    from eval_helpers import MODEL

    content = torch.load(checkpoint, weights_only=True)
    content['meta']['cfg'] = Config(dict(model=dict(MODEL, logit_scale=20.0))).pretty_text  # as `mmtard train` writes it
    torch.save(content, tmp_path / 'iter_1.pth')
    folder = image_folder(tmp_path / 'photos')
    result = run('--pretrained', tmp_path / 'iter_1.pth', '--dataset', folder, '--eps', 1, '--n-robust', 2,
                 '--n-iter', 1, '--out', tmp_path / 'out')
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / 'out' / 'evaluation.json').read_text())
    assert (written['model'], written['pretrained']) == ('mmtard-tiny-vit', 'iter_1.pth')
    wrong = run('--model', 'ViT-B-32', '--pretrained', tmp_path / 'iter_1.pth', '--dataset', folder)
    assert wrong.exit_code == 2 and "architecture 'mmtard-tiny-vit'" in wrong.output
    # what `mmtard export` writes evaluates as the same model, with the same numbers
    from mmtard.apis.export import export

    exported = export(tmp_path / 'iter_1.pth', 'open_clip', tmp_path / 'student.safetensors').path
    again = run('--model', 'mmtard-tiny-vit', '--pretrained', exported, '--dataset', folder, '--eps', 1,
                '--n-robust', 2, '--n-iter', 1, '--out', tmp_path / 'exported')
    assert again.exit_code == 0, again.output
    first, second = rows(tmp_path / 'out')[0], rows(tmp_path / 'exported')[0]
    # the export carries the trained logit scale (20) where the checkpoint's student kept open_clip's initial one:
    # other weights (checksum), the same embeddings and numbers
    assert second['pretrained'] == 'student.safetensors' and second['model_checksum'] != first['model_checksum']
    assert (second['clean_acc'], second['robust_acc']) == (first['clean_acc'], first['robust_acc'])
    # both are attacked at the scale the student was trained at, which the weights carry, not CLIP's 100
    assert first['logit_scale'] == second['logit_scale'] == 20.0
    assert written['logit_scale_source'] == 'the weights'
    forced = run('--pretrained', tmp_path / 'iter_1.pth', '--dataset', folder, '--eps', 1, '--n-robust', 2,
                 '--n-iter', 1, '--logit-scale', 100, '--out', tmp_path / 'forced')
    assert forced.exit_code == 0 and rows(tmp_path / 'forced')[0]['logit_scale'] == 100.0
    assert json.loads((tmp_path / 'forced' / 'evaluation.json').read_text())['logit_scale_source'].startswith('--logit')


def test_a_checkpoint_carrying_an_unusable_logit_scale_is_refused_unless_one_is_given(tmp_path, checkpoint):
    """A scale of 0 or below would score every sample with meaningless logits; said before any work."""
    from mmengine.config import Config

    from eval_helpers import MODEL

    folder = image_folder(tmp_path / 'photos')
    for scale in (0.0, -20.0):  # (a stored nan or inf does not parse, and is refused as such)
        content = torch.load(checkpoint, weights_only=True)
        content['meta']['cfg'] = Config(dict(model=dict(MODEL, logit_scale=scale))).pretty_text
        torch.save(content, tmp_path / 'bad.pth')
        result = run('--pretrained', tmp_path / 'bad.pth', '--dataset', folder, '--eps', 1, '--n-robust', 2,
                     '--n-iter', 1, '--out', tmp_path / f'out{scale}')
        text = ' '.join(result.output.split())
        assert result.exit_code == 2 and f'from the weights is {scale!r}' in text and '--logit-scale' in text, text
        assert 'Traceback' not in result.output and not (tmp_path / f'out{scale}' / 'results.json').exists()
    given = run('--pretrained', tmp_path / 'bad.pth', '--dataset', folder, '--eps', 1, '--n-robust', 2,
                '--n-iter', 1, '--logit-scale', 20, '--out', tmp_path / 'given')
    assert given.exit_code == 0 and rows(tmp_path / 'given')[0]['logit_scale'] == 20.0


def test_classnames_templates_and_a_caption_csv_from_the_command_line(tmp_path, checkpoint, monkeypatch):
    embedded = spy_class_embeddings(monkeypatch)
    folder = image_folder(tmp_path / 'photos')
    (tmp_path / 'names.json').write_text(json.dumps({'blue': 'sky', 'green': 'grass', 'red': 'fire truck'}))
    (tmp_path / 'templates.txt').write_text('a photo of {}.\nan image showing {}.\n')
    Image.new('RGB', (40, 40), (200, 10, 10)).save(tmp_path / 'a.png')
    Image.new('RGB', (40, 40), (10, 10, 200)).save(tmp_path / 'b.png')
    (tmp_path / 'captions.csv').write_text('filepath,caption\na.png,a red square\nb.png,a blue square\n')
    result = run('--model', 'mmtard-tiny-vit', '--pretrained', checkpoint, '--dataset', folder, tmp_path / 'captions.csv',
                 '--classnames', tmp_path / 'names.json', '--templates', tmp_path / 'templates.txt', '--eps', 1,
                 '--n-robust', 2, '--n-iter', 1, '--out', tmp_path / 'out')
    assert result.exit_code == 0, result.output
    assert embedded[0] == (['sky', 'grass', 'fire truck'], ['a photo of {}.', 'an image showing {}.'])  # blue, green, red
    assert [(r['dataset'], r['task'], r['n']) for r in rows(tmp_path / 'out')] == [
        ('photos', 'classification', 9), ('captions', 'retrieval', 2)]
    prompts = [r['prompts'] for r in rows(tmp_path / 'out')]
    assert all(len(p) == 16 for p in prompts) and prompts[0] != prompts[1], 'each row names the prompts it used'


def test_logit_scale_flag_is_used_and_recorded(tmp_path, checkpoint):
    folder = image_folder(tmp_path / 'photos', per_class=1)
    common = ('--model', 'mmtard-tiny-vit', '--pretrained', checkpoint, '--dataset', folder, '--eps', 1,
              '--n-robust', 2, '--n-iter', 1, '--attack', 'pgd')
    result = run(*common, '--logit-scale', 20, '--out', tmp_path / 'out')
    assert result.exit_code == 0, result.output
    assert rows(tmp_path / 'out')[0]['logit_scale'] == 20.0
    bad = run(*common, '-o', 'evaluation.logit_scale=-1', '--out', tmp_path / 'bad')
    assert bad.exit_code == 2 and 'evaluation.logit_scale=-1 must be a finite number > 0' in bad.output


def test_attack_options_apply_to_the_attack_the_flag_picks(tmp_path, checkpoint):
    folder = image_folder(tmp_path / 'photos', per_class=1)
    common = ('--model', 'mmtard-tiny-vit', '--pretrained', checkpoint, '--dataset', folder, '--eps', 1,
              '--n-robust', 2, '--n-iter', 1)
    result = run(*common, '--attack', 'autoattack', '-o', 'evaluation.attack.n_restarts=1', '--out', tmp_path / 'aa')
    assert result.exit_code == 0, result.output
    assert rows(tmp_path / 'aa')[0]['attack_restarts'] == 1  # it was 5: the -o was dropped silently
    refused = run(*common, '--attack', 'pgd', '-o', 'evaluation.attack.n_restarts=1', '--out', tmp_path / 'pgd')
    text = ' '.join(refused.output.split())
    assert refused.exit_code == 2 and "PGD (registry 'attack') has no option 'n_restarts'" in text and 'steps' in text


def test_a_timm_backbone_needs_a_text_tower_and_runs_with_one(tmp_path):
    folder = image_folder(tmp_path / 'photos', per_class=1)
    missing = run('--model', 'test_vit', '--dataset', folder, '--out', tmp_path / 'no')
    assert missing.exit_code == 2 and '--text-tower' in missing.output and 'Traceback' not in missing.output
    result = run('--model', 'test_vit', '--text-tower', 'mmtard-tiny-vit', '--dataset', folder, '--eps', 1,
                 '--n-robust', 2, '--n-iter', 1, '--attack', 'pgd', '--out', tmp_path / 'out')
    assert result.exit_code == 0, result.output
    row, = rows(tmp_path / 'out')
    assert (row['model'], row['pretrained'], row['attack_iterations'], row['n']) == ('test_vit', '', 1, 3)
    assert 'without --pretrained evaluates a randomly initialised model' in ' '.join(result.output.split())
    assert 'without --text-pretrained pairs the backbone with a randomly initialised text tower' in ' '.join(
        result.output.split())


def test_a_pretrained_file_that_does_not_exist_is_named_as_such(tmp_path):
    result = run('--pretrained', tmp_path / 'nosuch' / 'iter_9.pth', '--dataset', image_folder(tmp_path / 'photos'),
                 '--out', tmp_path / 'out')
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and 'iter_9.pth' in text and 'no such file' in text, text
    assert 'Traceback' not in result.output and not (tmp_path / 'out').exists()
