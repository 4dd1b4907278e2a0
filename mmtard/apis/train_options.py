"""Options of `mmtard train` that the command line lists before anything heavy is imported (the CLI
starts without torch), kept in one place for the command and :func:`mmtard.apis.train.train`."""

#: ``--log-backend`` names: mmengine's vis backend and the package it needs (not an mmtard dependency).
LOG_BACKENDS = {'tensorboard': ('TensorboardVisBackend', 'tensorboard'), 'wandb': ('WandbVisBackend', 'wandb')}
