# Offline benchmark for the tiny configs: the synthetic shapes' seen classes, the 13 held-out
# colour-shape combinations (the zero-shot test) and all 64, 'quick' budgets (256 clean / 64 robust
# samples, eps 2/255), AutoAttack 'custom'. Runs on a laptop CPU in minutes.
evaluation = dict(
    preset='quick',
    attack=dict(type='AutoAttack', version='custom'),
    batch_size=64,
    seed=0,
    datasets=[
        dict(name='shapes-seen', dataset=dict(type='ShapesDataset', split='test', classes='seen', num_samples=2000,
                                              cache_dir='work_dirs/.cache/shapes')),
        dict(name='shapes-held-out', dataset=dict(type='ShapesDataset', split='test', classes='held_out',
                                                  num_samples=2000, cache_dir='work_dirs/.cache/shapes')),
        dict(name='shapes-all', dataset=dict(type='ShapesDataset', split='test', classes='all', num_samples=2000,
                                             cache_dir='work_dirs/.cache/shapes')),
    ])
