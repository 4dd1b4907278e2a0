"""Evaluate a trained (or pre-trained) encoder on the config's benchmark: the function behind `mmtard eval`."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from mmengine.config import Config
from torch import nn

from ..checkpoint import read_checkpoint
from ..config import parse_cfg_options, resolve_config
from ..errors import CheckpointError, ConfigError, MMTardError, RunDirectoryExistsError, did_you_mean, error_detail
from ..evaluation.benchmark import Benchmark, Plan
from ..evaluation.distributed import current_shard, init_eval_process_group, resolve_launcher, seeded_initialisation
from ..evaluation.partial import partial_files
from ..evaluation.results import (REPLACED_DIR, RESULTS_CSV, RESULTS_JSON, RESULTS_MD, BenchmarkResult, EvaluatedModel,
                                  write_results)
from ..evaluation.spec import BenchmarkSpec, benchmark_spec
from ..models.encoders.base import ImageTextEncoder
from ..plugins import ensure_plugins_loaded
from ..registry import MODELS
from ..value_checks import check_flag, check_path, check_text, is_positive_number, type_name
from ..work_dir import EVALUATION_LOCK, EVALUATION_LOCK_FILE, check_output_dir, default_work_dir, work_dir_lock
from .eval_flags import EvalFlags
from .eval_model import command_line_encoder, encoder_source
from .eval_progress import EvaluationProgress, LoggedEvaluationProgress

ConfigLike = Union[str, os.PathLike, Config]
#: What an evaluation's folder records about the evaluated model (:func:`write_provenance`).
EVALUATION_JSON = 'evaluation.json'


def load_model_checkpoint(model: nn.Module, checkpoint: Union[str, os.PathLike], model_key: str = 'student') -> None:
    """Load an mmengine checkpoint strictly: evaluating half-loaded weights would report a wrong model.
    Frozen teachers left out of the checkpoint come from the config; the one evaluated (``model_key``)
    must be the one the checkpoint recorded."""
    from ..engine.lean_checkpoint import load_training_state

    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise CheckpointError(f'--checkpoint {str(path)!r}: no such file. Pass a .pth file written by '
                              f'`mmtard train` (e.g. work_dirs/<config>/iter_100.pth), or leave --checkpoint out '
                              f'to evaluate the weights the config names.')
    advice = ('Check that it was written by training this same config (same model type and architectures) '
              'and that the file is complete.')
    try:
        content = read_checkpoint(str(path))
    except CheckpointError as err:
        raise CheckpointError(f'The checkpoint {str(path)!r} could not be loaded into the config\'s model: {err} '
                              f'{advice}') from None
    try:  # what does not fit, or a changed teacher, is a CheckpointError naming the keys or the teacher
        load_training_state(model, content, f'The checkpoint {str(path)!r}', checked_teachers=[model_key])
    except MMTardError:
        raise
    except Exception as err:  # load_state_dict's RuntimeErrors (dtype, device) vary
        raise CheckpointError(f'The checkpoint {str(path)!r} could not be loaded into the config\'s model '
                              f'({error_detail(err)}). {advice}') from None


def select_encoder(model: nn.Module, model_key: str) -> ImageTextEncoder:
    """The encoder at ``model.<model_key>`` ('student', 'teachers.robust'), unwrapped from its
    FrozenTeacher (whose forward has no gradient, which an attack needs)."""
    module: Any = model
    for part in model_key.split('.'):
        child = getattr(module, part, None) if isinstance(module, nn.Module) else None
        if not isinstance(child, nn.Module):
            candidates = [name[:-len('.encoder')] if name.endswith('.encoder') else name
                          for name, m in model.named_modules() if isinstance(m, ImageTextEncoder)]
            raise ConfigError(f'--model-key {model_key!r}: the model {type(model).__name__} has no encoder there.'
                              f'{did_you_mean(model_key, candidates)} Encoders in this model: '
                              f'{", ".join(candidates) or "none"}.')
        module = child
    while not isinstance(module, ImageTextEncoder) and isinstance(getattr(module, 'encoder', None), ImageTextEncoder):
        module = module.encoder
    if not isinstance(module, ImageTextEncoder):
        raise ConfigError(f'--model-key {model_key!r} names a {type(module).__name__}, not an image-text encoder '
                          f'(pixels -> embeddings with a text tower); name the student or a teacher.')
    return module


def default_out_dir(cfg: Config, config: Optional[ConfigLike], checkpoint: Optional[str], model_key: str, preset: str,
                    source: Optional[EvaluatedModel] = None) -> Path:
    """``<work_dir>/eval/<checkpoint>_<model key>_<preset>``: stable, so re-running resumes. The work
    dir is the config's, else the checkpoint's folder (the run it came from), else mmengine's default.
    Without a config: ``work_dirs/eval/<model>_<weights folder>_<pretrained>_<preset>``."""
    if config is None:
        name = '_'.join(part.replace('/', '-').replace(':', '-') for part in
                        (source.model, source.weights_folder, Path(source.pretrained).stem or 'random')
                        if part) if source else 'model'
        return Path('work_dirs') / 'eval' / f'{name}_{preset}'
    if cfg.get('work_dir'):
        work_dir = Path(cfg.work_dir)
    elif checkpoint:
        work_dir = Path(checkpoint).parent
    elif isinstance(config, Config):
        raise ConfigError('A config object without work_dir and without a checkpoint needs out_dir=... to be given.')
    else:
        work_dir = default_work_dir(config)
    name = Path(checkpoint).stem if checkpoint else 'no-checkpoint'
    return work_dir / 'eval' / f'{name}_{model_key}_{preset}'


def replaced_folder(out_dir: Path) -> Path:
    """Where ``--overwrite`` moves the earlier results: ``replaced/``, or ``replaced/2/``, ``replaced/3/``, ...
    once an earlier overwrite's files are there, so that no overwrite loses another's."""
    folder = out_dir / REPLACED_DIR
    if not folder.is_dir() or not any(path.is_file() for path in folder.iterdir()):
        return folder
    number = 2
    while (folder / str(number)).exists():
        number += 1
    return folder / str(number)


def prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse to replace a finished evaluation's results unless ``overwrite``; an unfinished one is
    resumed. ``overwrite`` moves the earlier results, what they evaluated (evaluation.json) and (every
    process's) partial results into :func:`replaced_folder`."""
    if overwrite:
        finished = [out_dir / name for name in (RESULTS_JSON, RESULTS_CSV, RESULTS_MD, EVALUATION_JSON)
                    if (out_dir / name).is_file()] + partial_files(out_dir)
        if finished:
            replaced = replaced_folder(out_dir)
            replaced.mkdir(parents=True, exist_ok=True)
            for path in finished:
                path.replace(replaced / path.name)
    elif (out_dir / RESULTS_JSON).is_file():
        raise RunDirectoryExistsError(
            f'{str(out_dir)!r} already holds the finished results of an earlier evaluation. Pass --overwrite to '
            f'evaluate again into it (the earlier results move to {REPLACED_DIR}/, kept), or --out to write elsewhere.')
    out_dir.mkdir(parents=True, exist_ok=True)


def resolve_device(device: Optional[str]) -> torch.device:
    """The evaluation device, checked before anything is built: cuda when available by default."""
    if device is None:
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"--device {device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'.") from None
    if resolved.type == 'cuda' and not torch.cuda.is_available():
        raise ConfigError(f'--device {device!r}: this machine has no usable CUDA GPU (torch.cuda.is_available() '
                          f'is False); use --device cpu or leave --device out.')
    return resolved


def _config_encoder(cfg: Config, checkpoint: Optional[Union[str, os.PathLike]], model_key: str,
                    progress: EvaluationProgress) -> Tuple[ImageTextEncoder, EvaluatedModel]:
    """``model.<model_key>`` of the config's model, with ``checkpoint`` loaded over it."""
    if 'model' not in cfg:
        raise ConfigError('Nothing names the model to evaluate: the config has no `model`. Pass a training config '
                          '(the one the checkpoint was trained with), or name the model with --model ARCH '
                          '--pretrained TAG|FILE.')
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_model_checkpoint(model, checkpoint, model_key)
    encoder = select_encoder(model, model_key)
    if checkpoint is None and encoder.random_image_tower:
        progress.warning(f'no --checkpoint, and model.{model_key} names no pretrained weights: this evaluates a '
                         f'randomly initialised image tower. Pass --checkpoint work_dirs/<run>/iter_N.pth to evaluate '
                         f'a trained model.')
    node = cfg.model
    for part in model_key.split('.'):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    node = node.get('encoder', node) if isinstance(node, dict) else {}  # a teacher entry wraps its encoder
    return encoder, encoder_source(node, None if checkpoint is None else str(checkpoint), model_key)


def _command_line_encoder(cfg: Config, checkpoint: Optional[Union[str, os.PathLike]], model_key: str,
                          flags: EvalFlags) -> Tuple[ImageTextEncoder, EvaluatedModel]:
    if checkpoint is not None:
        raise ConfigError('--checkpoint loads weights into a config\'s model; with --model give the weights as '
                          '--pretrained FILE (an mmtard checkpoint, an exported or an open_clip file).')
    if model_key != 'student':
        raise ConfigError(f'--model-key {model_key!r} picks an encoder of the config\'s model; --model / --pretrained '
                          f'name the evaluated model themselves. Drop one of the two.')
    student = cfg.model.get('student') if 'model' in cfg else None
    return command_line_encoder(flags.model, flags.pretrained, flags.text_tower, flags.text_pretrained,
                                None if student is None else student.to_dict() if hasattr(student, 'to_dict')
                                else dict(student))


def check_arguments(checkpoint: Any, out_dir: Any, preset: Any, model_key: Any, overwrite: Any, device: Any,
                    flags: Any, progress: Any) -> None:
    """Type-check :func:`evaluate`'s arguments, so a Python caller gets a sentence, not an AttributeError."""
    check_path(checkpoint, 'checkpoint', optional=True)
    check_path(out_dir, 'out_dir', optional=True)
    check_text(preset, 'preset', optional=True)
    check_text(device, 'device', optional=True)
    check_text(model_key, "model_key (e.g. 'student' or 'teachers.robust')")
    check_flag(overwrite, 'overwrite')
    if flags is not None and not isinstance(flags, EvalFlags):
        raise ConfigError(f'flags={flags!r} must be an EvalFlags (from mmtard.apis.eval_flags import EvalFlags; '
                          f'flags=EvalFlags(datasets=[...], eps=[...])), not {type_name(flags)}.')
    if progress is not None and not isinstance(progress, EvaluationProgress):
        raise ConfigError(f'progress={progress!r} must be an EvaluationProgress (from mmtard.apis.eval_progress import '
                          f'EvaluationProgress; subclass it and override warning, planned, batch or finished), not '
                          f'a {type(progress).__name__}.')


def write_provenance(out_dir: Path, cfg: Config, model_key: str, source: EvaluatedModel,
                     checkpoint: Optional[Union[str, os.PathLike]], model_checksum: str, processes: int,
                     spec: BenchmarkSpec, logit_scale_source: str = 'default') -> Path:
    """``<out_dir>/evaluation.json``: what was evaluated (config, model, weights and their checksum) under
    which resolved benchmark settings, and where the logit scale came from, so the results can be
    traced back later."""
    path = out_dir / EVALUATION_JSON
    path.write_text(json.dumps(
        {'config': getattr(cfg, 'filename', None), 'model_key': model_key, 'model': source.model,
         'checkpoint': None if checkpoint is None else str(checkpoint), 'pretrained': source.pretrained,
         'model_checksum': model_checksum, 'processes': processes, 'spec': dataclasses.asdict(spec),
         'logit_scale_source': logit_scale_source},
        indent=2, default=str) + '\n')
    return path


#: Where an evaluation's logit scale came from (evaluation.json's ``logit_scale_source``).
SCALE_SOURCES = ('--logit-scale or the evaluation section', 'the weights', 'the training config', 'default')


def with_carried_logit_scale(spec: BenchmarkSpec, evaluation: Dict[str, Any], flags: EvalFlags, cfg: Config,
                             encoder: ImageTextEncoder) -> Tuple[BenchmarkSpec, str]:
    """The spec at the logit scale the model carries, unless one was given (``--logit-scale``, or the
    config's ``evaluation.logit_scale``): for a config's model the scale its ``model`` trains at (what its
    checkpoints were trained with); for a model named on the command line the scale its weights carry
    (an mmtard checkpoint's, an export's or an open_clip model's); the default (100, CLIP's) only when
    none is known. The attack's strength, and so robust accuracy, depends on it. Returns where it came
    from."""
    from ..interop.trained_student import model_logit_scale

    if 'logit_scale' in (evaluation or {}):
        return spec, SCALE_SOURCES[0]
    if not flags.names_model and 'model' in cfg:
        scale, source = model_logit_scale(cfg.model), SCALE_SOURCES[2]
    else:
        scale, source = encoder.weights_logit_scale(), SCALE_SOURCES[1]
    if scale is None:
        return spec, SCALE_SOURCES[3]
    if not is_positive_number(scale):
        raise ConfigError(f'The logit scale from {source} is {scale!r}; it must be a finite number > 0. Logits '
                          f'are multiplied by it, so the attack and every accuracy depend on it: give the scale the '
                          f'model was trained at with --logit-scale (CLIP: 100), or evaluate other weights.')
    return dataclasses.replace(spec, logit_scale=scale), source


def evaluate(config: Optional[ConfigLike] = None, checkpoint: Optional[Union[str, os.PathLike]] = None,
             out_dir: Optional[Union[str, os.PathLike]] = None, preset: Optional[str] = None,
             model_key: str = 'student', cfg_options: Optional[Dict[str, Any]] = None, overwrite: bool = False,
             device: Optional[str] = None, flags: Optional[EvalFlags] = None, launcher: Optional[str] = None,
             progress: Optional[EvaluationProgress] = None) -> List[BenchmarkResult]:
    """Evaluate ``model.<model_key>`` of the config's model, or the model ``flags`` name, on the benchmark;
    returns one row per dataset and eps.

    Builds the model, loads ``checkpoint`` (none: the weights the config names), plans the benchmark and
    times one batch, runs (resuming from ``out_dir``'s partial results) and writes results.json,
    results.csv, results.md and evaluation.json (what was evaluated). ``preset`` ('quick' or
    'mmt-ard-release', alias 'paper') overrides the config's budgets. ``flags`` (the command line's
    --model, --dataset, --eps, ...) override the config, which they can replace.
    ``progress`` receives the warnings, the plan, every batch and the output folder (default: warnings
    and the folder are logged to ``mmtard.evaluate``); `mmtard eval` draws them with rich.
    ``launcher='pytorch'`` (default under torchrun with several processes): the processes share
    every dataset's batches (:mod:`mmtard.evaluation.distributed`); rank 0 reports and writes the results.
    """
    ensure_plugins_loaded()
    check_arguments(checkpoint, out_dir, preset, model_key, overwrite, device, flags, progress)
    flags = flags or EvalFlags()
    run_device = resolve_device(device)
    run_device = init_eval_process_group(resolve_launcher(launcher), device) or run_device
    shard = current_shard()
    progress = (progress or LoggedEvaluationProgress()) if shard.is_main else EvaluationProgress()
    if out_dir is not None:
        check_output_dir(out_dir, '--out folder')
    if config is None and not flags.names_model:
        raise ConfigError('Nothing names the model to evaluate: give a CONFIG, or --model ARCH --pretrained '
                          'TAG|FILE|hf-hub:ID (e.g. --model ViT-B-32 --pretrained openai).')
    if isinstance(cfg_options, (list, tuple)):  # ['KEY=VALUE', ...], as on the command line
        cfg_options = parse_cfg_options(cfg_options)
    cfg = resolve_config(config if config is not None else Config(dict(evaluation=dict())), cfg_options)
    evaluation, preset = flags.evaluation_section(cfg.get('evaluation'), preset, cfg_options)
    if config is None and not evaluation.get('datasets'):
        raise ConfigError('No dataset to evaluate on: give --dataset NAME|PATH (a benchmark name such as cifar10 '
                          'read from --data-root, an image folder with one sub-folder per class, or a caption CSV).')
    val_loader = cfg.get('val_dataloader') or {}
    spec = benchmark_spec(evaluation, preset, fallback_dataset=val_loader.get('dataset'))
    if flags.names_model:
        with seeded_initialisation(spec.seed):  # weights left random are the same in every process
            encoder, source = _command_line_encoder(cfg, checkpoint, model_key, flags)
        if flags.pretrained is None:
            progress.warning(f'--model {flags.model} without --pretrained evaluates a randomly initialised model '
                             f'(drawn from the evaluation seed, {spec.seed}); give its weights with --pretrained '
                             f'TAG|FILE|hf-hub:ID.')
        if flags.text_tower is not None and flags.text_pretrained is None:
            progress.warning(f'--text-tower {flags.text_tower} without --text-pretrained pairs the backbone with a '
                             f'randomly initialised text tower: its class embeddings are noise and zero-shot '
                             f'accuracy is near chance. Give the text tower\'s weights with --text-pretrained '
                             f'TAG|FILE (those the model was trained with).')
    else:
        with seeded_initialisation(spec.seed):
            encoder, source = _config_encoder(cfg, checkpoint, model_key, progress)
    spec, scale_source = with_carried_logit_scale(spec, evaluation, flags, cfg, encoder)
    out = Path(out_dir) if out_dir is not None else default_out_dir(
        cfg, config, None if checkpoint is None else str(checkpoint), model_key, spec.preset, source)
    # one writer per --out: one evaluation, whose rank 0 holds the lock for all its processes
    lock = (work_dir_lock(out, lock_file=EVALUATION_LOCK_FILE, refusal=EVALUATION_LOCK) if shard.is_main
            else contextlib.nullcontext())
    with lock:
        if shard.is_main or not overwrite:  # every rank refuses finished results; rank 0 alone moves them
            prepare_out_dir(out, overwrite)
        shard.barrier()  # the other ranks start once rank 0 has moved what --overwrite replaces
        bench = Benchmark(encoder, spec, out, device=run_device, source=source, shard=shard)
        if shard.is_main:
            write_provenance(out, cfg, model_key, source, checkpoint, bench.model_checksum, shard.world_size, spec,
                             scale_source)

        def planned(plan: Plan) -> None:
            for note in plan.notes:
                progress.warning(note)
            progress.planned(plan, out)

        records = bench.run(planned, progress.batch)
        if shard.is_main:
            write_results(records, out)
    progress.finished(records, out)
    return records
