"""`mmtard eval`: a thin wrapper over :func:`mmtard.apis.evaluate.evaluate`, with a config, with
CLIP_benchmark / open_clip style flags instead of one, or both (flags override the config)."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import click

from .common import cfg_options_option, console, friendly_errors, load_plugins_reporting_failures


class ManyValuesOption(click.Option):
    """An option taking one or more values after it, as in ``--eps 1 2 4`` (argparse's ``nargs='+'``):
    the values run up to the next option; repeating the option adds more."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, multiple=True, **kwargs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is None:
                continue
            store = option.process

            def process(value: Any, state: Any, store: Any = store) -> None:
                store(value, state)
                while state.rargs and not state.rargs[0].startswith('-') and not state.rargs[0].endswith('.py'):
                    store(state.rargs.pop(0), state)  # a CONFIG (*.py) after the values stays the argument

            option.process = process


def _attack_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    """Shell completion of --attack: the registered attacks' command-line names, plugins' included
    (looked up only when asked, so that `--help` imports no torch)."""
    from ..apis.eval_flags import command_line_attacks

    return [name for name in command_line_attacks() if name.startswith(incomplete)]


def _preset_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    """Shell completion of --preset: the presets of :mod:`mmtard.evaluation.spec` and their aliases."""
    from ..evaluation.spec import PRESET_ALIASES, PRESETS

    return [name for name in (*PRESETS, *PRESET_ALIASES) if name.startswith(incomplete)]


@click.command('eval')
@click.argument('config', type=click.Path(dir_okay=False), required=False)
@click.option('--model', default=None, metavar='NAME|hf-hub:ID|local-dir:DIR|ZOO',
              help='Evaluate this model instead of the config\'s: an open_clip architecture (e.g. ViT-B-32), a timm '
                   'model or a model of a plugin\'s source (`mmtard list model-sources`); '
                   'an open_clip hub model (hf-hub:chs20/fare2-clip, or its local clone as local-dir:DIR), which '
                   'brings its weights; or a published robust CLIP by its zoo name (docs/zoo.md, e.g. '
                   'fare4-vit-b-32-laion2b).')
@click.option('--pretrained', default=None, metavar='TAG|FILE|hf-hub:ID',
              help='Its weights: an open_clip tag (openai), hf-hub:org/name, a file written by `mmtard train` or '
                   '`mmtard export`, or an open_clip / timm state dict. With a CONFIG alone: replaces the '
                   'student\'s weights.')
@click.option('--text-tower', default=None, metavar='ARCH',
              help='open_clip architecture whose text tower pairs with an image backbone --model (timm, a plugin\'s).')
@click.option('--text-pretrained', default=None, metavar='TAG|FILE', help='Weights of that text tower.')
@click.option('--dataset', 'datasets', cls=ManyValuesOption, metavar='NAME|PATH ...',
              help='Datasets: benchmark names (imagenet, cifar10, ... read from --data-root/<name>, never '
                   'downloaded), image folders (one sub-folder per class) or caption CSVs. Replaces the config\'s.')
@click.option('--data-root', default='data', show_default=True, type=click.Path(file_okay=False),
              help='Folder holding the benchmark datasets by name.')
@click.option('--eps', cls=ManyValuesOption, type=float, metavar='EPS ...',
              help='Linf radii in 1/255 units, e.g. --eps 1 2 4; 0 gives the clean row (no attack).')
@click.option('--attack', default=None, metavar='NAME', shell_complete=_attack_names,
              help='An attack by its command-line name (`mmtard list attacks` shows every attack\'s), e.g. '
                   'autoattack: APGD-CE (5 restarts) + APGD-T (9 targets), the robust-CLIP standard.')
@click.option('--n-iter', type=click.IntRange(min=1), default=None,
              help='Iterations of the attack (the option its iterations_option names: steps for PGD).')
@click.option('--n-clean', type=click.IntRange(min=1), default=None, help='Samples for clean accuracy per dataset.')
@click.option('--n-robust', type=click.IntRange(min=1), default=None, help='Of those, samples attacked.')
@click.option('--classnames', default=None, metavar='FILE|NAME',
              help='Class names of the --dataset folders: a JSON {"folder": "name"} mapping (or list of the '
                   'folder names), or a bundled dataset\'s name (caltech101, eurosat, ...).')
@click.option('--templates', default=None, metavar='NAME|FILE',
              help='Prompt templates: a set name (openai_imagenet, simple, ...), a dataset name, or a file (JSON '
                   'list, or one template per line, each with one {}).')
@click.option('--logit-scale', type=float, default=None,
              help='Scale of the zero-shot logits the attack\'s loss sees (default: the config\'s evaluation.logit_scale, '
                   'else 100, CLIP\'s); use the scale the model was trained with (the demo\'s: 20). Results record it.')
@click.option('--checkpoint', '-c', type=click.Path(dir_okay=False), default=None,
              help='mmengine checkpoint written by `mmtard train`, loaded into the CONFIG\'s model.')
@click.option('--out', type=click.Path(file_okay=False), default=None,
              help='Output folder (default: <work_dir>/eval/<checkpoint>_<model key>_<preset>, without a config '
                   'work_dirs/eval/<model>_<pretrained>_<preset>); an unfinished evaluation there is resumed.')
@click.option('--preset', default=None, metavar='NAME', shell_complete=_preset_names,
              help="Sample budgets and eps: 'quick' (256 clean / 64 robust, eps 2) or 'mmt-ard-release' (alias "
                   "'paper': what the MMT-ARD release ran: full split / 1000 robust, ImageNet 5000 / 5000, eps 1, 2, "
                   '4); overrides the config; --eps / --n-clean / --n-robust override it.')
@click.option('--model-key', default='student', show_default=True,
              help="Which encoder of the config's model to evaluate, e.g. 'teachers.robust'.")
@click.option('--device', default=None, help='torch device (default: cuda if available, else cpu).')
@click.option('--overwrite', is_flag=True, help='Replace the finished results (and partial results) in the out folder.')
@click.option('--launcher', type=click.Choice(['none', 'pytorch']), default=None,
              help='pytorch: under torchrun --nproc_per_node=N, the N processes share every dataset\'s batches '
                   '(default when torchrun starts several).')
@cfg_options_option
@friendly_errors
def eval_command(config: Optional[str], model: Optional[str], pretrained: Optional[str], text_tower: Optional[str],
                 text_pretrained: Optional[str], datasets: Tuple[str, ...], data_root: str, eps: Tuple[float, ...],
                 attack: Optional[str], n_iter: Optional[int], n_clean: Optional[int], n_robust: Optional[int],
                 classnames: Optional[str], templates: Optional[str], logit_scale: Optional[float], checkpoint: Optional[str], out: Optional[str],
                 preset: Optional[str], model_key: str, device: Optional[str], overwrite: bool,
                 launcher: Optional[str], cfg_options: Tuple[str, ...]) -> None:
    """Zero-shot clean and robust accuracy (and retrieval recall) of a model on a benchmark.

    \b
    With a CONFIG: its model (and --checkpoint) on its `evaluation` benchmark.
    Without one:   mmtard eval --model ViT-B-32 --pretrained openai --dataset cifar10 imagenet --eps 1 2 4
                   mmtard eval --model mmtard-tiny-vit --pretrained iter_100.pth --dataset ./my_folder
    Flags given with a CONFIG override its settings.
    Many processes: torchrun --nproc_per_node=8 -m mmtard eval ... --launcher pytorch
    """
    from ..hub import prefetch_hub_files
    from ..zoo import zoo_hub_model

    prefetch_hub_files(zoo_hub_model(model, pretrained), pretrained)  # before torch loads: offline errors in seconds
    from ..apis.eval_flags import EvalFlags
    from ..apis.evaluate import evaluate
    from ..config import parse_cfg_options
    from .eval_display import RichEvaluationProgress

    load_plugins_reporting_failures()
    flags = EvalFlags(model=model, pretrained=pretrained, text_tower=text_tower, text_pretrained=text_pretrained,
                      datasets=datasets, data_root=data_root, eps=eps, attack=attack, n_iter=n_iter, n_clean=n_clean,
                      n_robust=n_robust, classnames=classnames, templates=templates,
                      logit_scale=logit_scale)
    with RichEvaluationProgress(console) as progress:
        evaluate(config, checkpoint=checkpoint, out_dir=out, preset=preset, model_key=model_key,
                 cfg_options=parse_cfg_options(cfg_options), overwrite=overwrite, device=device, flags=flags,
                 launcher=launcher, progress=progress)
