"""`Run`: everything one training run is made of, built from its `RunConfig`."""

from functools import cached_property

import torch

from .config.run_config import RunConfig
from .factory import create_architecture, create_task
from .stats.training_stats import TrainingStats


class Run:
    """Task, architecture, model, optimizer, LR scheduler, stats and start of a run.

    The model is initialised from the run's seed, so two `Run`s of one config start equal.
    The datasplit, validation scores and start are built on first use.
    """

    def __init__(self, run_config: RunConfig, weights_store=None):
        self._config = run_config
        self.name = run_config.name
        self.train_until = run_config.num_iterations
        self.validation_interval = run_config.validation_interval
        self.seed = run_config.seed()
        self.config_hash = run_config.stage_hash("train")
        self._weights_store = weights_store

        self.task = create_task(run_config.task_config, run_config.datasplit_config.label_ids)
        self.head_labels = list(run_config.task_config.head_labels())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.architecture = create_architecture(run_config.architecture_config)
            self.model = self.task.create_model(self.architecture)

        self.training_stats = TrainingStats()
        self.sampler_state = {"seed": self.seed, "iteration": 0}

    @cached_property
    def _optimization(self):
        """Optimizer and LR scheduler, built together on first use (in this order, as a
        resume expects): validation and prediction never need them, and building the
        optimizer imports torch._dynamo (~1.3 s of a job's start-up)."""
        trainer = self._config.trainer_config
        optimizer = torch.optim.RAdam(
            self.model.parameters(),
            lr=trainer.learning_rate,
            weight_decay=trainer.weight_decay,
            decoupled_weight_decay=True,
        )
        # A warm-up that does not depend on num_iterations: raising it retrains nothing.
        scheduler = torch.optim.lr_scheduler.LinearLR(
            optimizer,
            start_factor=0.01 if trainer.warmup_iterations else 1.0,
            end_factor=1.0,
            total_iters=max(trainer.warmup_iterations, 1),
        )
        return optimizer, scheduler

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self._optimization[0]

    @property
    def lr_scheduler(self) -> torch.optim.lr_scheduler.LRScheduler:
        return self._optimization[1]

    @property
    def config(self) -> RunConfig:
        return self._config

    def __str__(self) -> str:
        return self.name

    @cached_property
    def datasplit(self):
        """The train and validate dataset configs (arrays are opened where used)."""
        return self._config.datasplit_config

    @cached_property
    def validation_scores(self):
        return Run.get_validation_scores(self._config, self.task)

    @cached_property
    def start(self):
        if self._config.start_config is None:
            return None
        from .start import Start

        return Start(self._config.start_config, self._weights_store)

    def move_optimizer(self, device, empty_cuda_cache: bool = False) -> None:
        """Move the optimizer's per-parameter state to `device` (parameters move with the
        model)."""
        for state in self.optimizer.state.values():
            for key, value in state.items():
                # Non-capturable optimizers keep their step counters on the CPU.
                if torch.is_tensor(value) and key != "step":
                    state[key] = value.to(device)
        if empty_cuda_cache and torch.cuda.is_available():
            torch.cuda.empty_cache()

    @staticmethod
    def get_validation_scores(run_config: RunConfig, task=None):
        """Empty validation scores of a run, without building its model."""
        from .stats.validation_scores import ValidationScores

        if task is None:
            task = create_task(run_config.task_config, run_config.datasplit_config.label_ids)
        return ValidationScores(task.parameters, run_config.validation_dataset_names(), task)
