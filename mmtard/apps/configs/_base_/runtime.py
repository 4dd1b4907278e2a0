# Runtime of the demo's stages: iteration-based, quiet (the demo pipeline reports progress itself),
# the final checkpoint only; the hooks every mmtard training run needs.
default_scope = 'mmtard'
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=500, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [dict(type='ZeroShotClassesHook'), dict(type='NaNGuardHook'), dict(type='RandomStateHook'),
                dict(type='RichProgressHook')]
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
log_processor = dict(by_epoch=False, window_size=10)
log_level = 'WARNING'
randomness = dict(seed=0, deterministic=False)
load_from = None
resume = False
