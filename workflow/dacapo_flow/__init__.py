"""dacapo-flow: DaCapo-style training of 3D segmentation networks as cached Snakemake stages.

Names are resolved lazily so that importing the config layer (as the Snakefile does at parse
time) never imports torch.
"""

from importlib import import_module

_EXPORTS = {
    # configs (no torch)
    "RunConfig": "dacapo_flow.config.run_config",
    "StartConfig": "dacapo_flow.config.run_config",
    "TrainerConfig": "dacapo_flow.config.trainers",
    "ArchitectureConfig": "dacapo_flow.config.architectures",
    "CNNectomeUNetConfig": "dacapo_flow.config.architectures",
    "TaskConfig": "dacapo_flow.config.tasks",
    "DistanceTaskConfig": "dacapo_flow.config.tasks",
    "OneHotTaskConfig": "dacapo_flow.config.tasks",
    "AffinitiesTaskConfig": "dacapo_flow.config.tasks",
    "DataSplitConfig": "dacapo_flow.config.datasplits",
    "TrainValidateDataSplitConfig": "dacapo_flow.config.datasplits",
    "RawGTDatasetConfig": "dacapo_flow.config.datasplits",
    "ArrayConfig": "dacapo_flow.config.datasplits",
    "ConfigError": "dacapo_flow.config.base",
    "load_run_config": "dacapo_flow.config.loading",
    # store, stats, scores
    "Weights": "dacapo_flow.store.weights",
    "WeightsStore": "dacapo_flow.store.weights_store",
    "LocalWeightsStore": "dacapo_flow.store.weights_store",
    "CheckpointError": "dacapo_flow.store.weights",
    "TrainingIterationStats": "dacapo_flow.stats.training_stats",
    "TrainingStats": "dacapo_flow.stats.training_stats",
    "ValidationIterationScores": "dacapo_flow.stats.validation_scores",
    "ValidationScores": "dacapo_flow.stats.validation_scores",
    # model, start, run
    "Model": "dacapo_flow.nn.model",
    "Start": "dacapo_flow.start",
    "match_heads": "dacapo_flow.start",
    "Run": "dacapo_flow.run",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dacapo_flow' has no attribute {name!r}")
