# Runtime settings shared by every training config.
default_scope = 'mmtard'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [
    dict(type='ZeroShotClassesHook'),  # class names/templates from the dataset unless the model sets them
    dict(type='NaNGuardHook'),
    dict(type='RandomStateHook'),  # attack noise continues exactly after --resume
    dict(type='CleanTeacherCacheHook'),  # loads what `mmtard cache-teacher` computed, if anything
    dict(type='RichProgressHook'),
]

# nccl on GPUs; `mmtard train` switches to gloo when no GPU is present.
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
log_processor = dict(window_size=10)
log_level = 'INFO'
randomness = dict(seed=0, deterministic=False)
load_from = None
resume = False
