"""Every registry of mmtard, in one place.

mmengine's roots are re-declared as children in scope ``mmtard`` (so mmengine's Runner finds our
models, datasets, metrics and hooks), following mmpretrain.  mmengine allows one child per parent
per scope, so the method's own component kinds (teachers, students, attacks, weightings) are
parentless registries, as are the export formats and the model families `mmtard eval --model` names.
What these registries add to mmengine's (owners, clashes, did-you-mean, lazy plugin loading) is
:class:`~mmtard.component_registry.MMTardRegistry`.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import Registry
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS

from .component_registry import MMTardRegistry


def _child(name: str, parent: Registry, location: str, description: str, listed_as: Optional[str] = None,
           builder_keys: Tuple[str, ...] = ()) -> MMTardRegistry:
    return MMTardRegistry(name, parent=parent, locations=[location], description=description,
                          listed_as=listed_as, builder_keys=builder_keys)


# Children of mmengine's roots: the Runner finds our components through them.
MODELS = _child('model', MMENGINE_MODELS, 'mmtard.models', 'distillers and training recipes (mmengine models)',
                'models')
DATASETS = _child('dataset', MMENGINE_DATASETS, 'mmtard.datasets', 'image datasets with class names and templates',
                  'datasets')
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, 'mmtard.datasets', 'data transforms', 'transforms')
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS, 'mmtard.datasets', 'data samplers')
METRICS = _child('metric', MMENGINE_METRICS, 'mmtard.evaluation', 'validation metrics', 'metrics')
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR, 'mmtard.evaluation', 'evaluators')
HOOKS = _child('hook', MMENGINE_HOOKS, 'mmtard.engine', 'training hooks', 'hooks')
LOOPS = _child('loop', MMENGINE_LOOPS, 'mmtard.engine', 'training and validation loops', 'loops')
LOG_PROCESSORS = _child('log_processor', MMENGINE_LOG_PROCESSORS, 'mmtard.engine', 'log processors')
VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS, 'mmtard.engine', 'visualizers')
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS, 'mmtard.engine', 'visualisation back-ends')
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS, 'mmtard.datasets', 'functions (collate, worker init)')
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS, 'mmtard.engine', 'model wrappers')
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS, 'mmtard.engine', 'optimizers')
OPTIM_WRAPPERS = _child('optim_wrapper', MMENGINE_OPTIM_WRAPPERS, 'mmtard.engine', 'optimizer wrappers',
                        builder_keys=('constructor', 'paramwise_cfg'))  # consumed by mmengine's builder
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor', MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'mmtard.engine', 'optimizer wrapper constructors')
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS, 'mmtard.engine',
                          'learning-rate and momentum schedules')

# The method's own component kinds: parentless (mmengine has no root for them).
TEACHERS = MMTardRegistry('teacher', locations=['mmtard.models'], listed_as='teachers',
                          description='frozen image-text encoders that guide the student')
STUDENTS = MMTardRegistry('student', locations=['mmtard.models'], listed_as='students',
                          description='trainable image encoders paired with a frozen text tower')
ATTACKS = MMTardRegistry('attack', locations=['mmtard.attacks'], listed_as='attacks', cheap_to_build=True,
                         description='adversarial attacks on pixel inputs in [0,1]')
WEIGHTINGS = MMTardRegistry('weighting', locations=['mmtard.weighting'], listed_as='weightings', cheap_to_build=True,
                            description='per-sample weighting of the teachers\' distillation terms')
EVAL_TASKS = MMTardRegistry('evaluation task', locations=['mmtard.evaluation'], listed_as='tasks',
                            description='how a benchmark scores a dataset clean and under attack (by name in '
                                        'evaluation.datasets[i].task)')
# Where a trained or named model leaves or enters mmtard: one entry per format / family, so a plugin
# encoder brings its own (docs/interfaces.md, "A student backbone family").
EXPORTERS = MMTardRegistry('exporter', locations=['mmtard.interop.exporters'], listed_as='exporters',
                           description='formats `mmtard export --format` writes a trained student in, each for '
                                       'one encoder class')
MODEL_SOURCES = MMTardRegistry('model source', locations=['mmtard.interop.model_sources'], listed_as='model-sources',
                               description='families of models `mmtard eval --model NAME` names, asked in turn '
                                           '(built-ins first)')

#: Every registry above (for finding a component whose registry a config leaves implicit).
ALL_REGISTRIES: Tuple[MMTardRegistry, ...] = (
    MODELS, DATASETS, TRANSFORMS, DATA_SAMPLERS, METRICS, EVALUATOR, HOOKS, LOOPS, LOG_PROCESSORS, VISUALIZERS,
    VISBACKENDS, FUNCTIONS, MODEL_WRAPPERS, OPTIMIZERS, OPTIM_WRAPPERS, OPTIM_WRAPPER_CONSTRUCTORS, PARAM_SCHEDULERS,
    TEACHERS, STUDENTS, ATTACKS, WEIGHTINGS, EVAL_TASKS, EXPORTERS, MODEL_SOURCES)

#: Registries `mmtard list` shows, by the short name users type, in the order it shows them.
PUBLIC_REGISTRIES: Dict[str, MMTardRegistry] = {
    registry.listed_as: registry for registry in
    (MODELS, TEACHERS, STUDENTS, ATTACKS, WEIGHTINGS, DATASETS, TRANSFORMS, METRICS, HOOKS, LOOPS, EVAL_TASKS,
     EXPORTERS, MODEL_SOURCES)}
