"""Build the runtime objects (architecture, task) a config describes.

Kept apart from the config layer so that parsing configs never imports torch.
"""

from .config.architectures import CNNectomeUNetConfig
from .config.tasks import AffinitiesTaskConfig, DistanceTaskConfig, OneHotTaskConfig


def create_architecture(config):
    if isinstance(config, CNNectomeUNetConfig):
        from .nn.unet import CNNectomeUNet

        fields = config.model_dump(exclude={"type"})
        return CNNectomeUNet(**fields)
    raise TypeError(f"no architecture for config type {type(config).__name__}")


def create_task(config, label_ids: dict[str, list[int]]):
    if isinstance(config, DistanceTaskConfig):
        from .tasks.distance import DistanceTask

        return DistanceTask(
            channels=list(config.channels),
            label_ids=label_ids,
            scale_factor=config.scale_factor,
            clipmin=config.clipmin,
            clipmax=config.clipmax,
            thresholds=tuple(config.thresholds),
            tol_distance=config.tol_distance,
        )
    if isinstance(config, OneHotTaskConfig):
        from .tasks.one_hot import OneHotTask

        return OneHotTask(
            classes=list(config.classes), label_ids=label_ids, kernel_size=config.kernel_size
        )
    if isinstance(config, AffinitiesTaskConfig):
        from .tasks.affinities import AffinitiesTask

        return AffinitiesTask(
            neighborhood=[tuple(offset) for offset in config.neighborhood],
            thresholds=tuple(config.thresholds),
            clipmin=config.clipmin,
            clipmax=config.clipmax,
        )
    raise TypeError(f"no task for config type {type(config).__name__}")
