"""Build the runtime objects (architecture, task) a config describes.

Kept apart from the config layer so that parsing configs never imports torch. Each runtime
class takes its config object, so the config's defaults and checks are the only ones.
"""

from importlib import import_module

from .config.architectures import CNNectomeUNetConfig
from .config.tasks import AffinitiesTaskConfig, DistanceTaskConfig, OneHotTaskConfig

# config class -> (module, class) of what it builds; imported on use (torch).
ARCHITECTURES = {CNNectomeUNetConfig: (".nn.unet", "CNNectomeUNet")}
TASKS = {
    DistanceTaskConfig: (".tasks.distance", "DistanceTask"),
    OneHotTaskConfig: (".tasks.one_hot", "OneHotTask"),
    AffinitiesTaskConfig: (".tasks.affinities", "AffinitiesTask"),
}


def _built_class(table: dict, config, what: str):
    if type(config) not in table:
        raise TypeError(f"no {what} for config type {type(config).__name__}")
    module, name = table[type(config)]
    return getattr(import_module(module, __package__), name)


def create_architecture(config):
    return _built_class(ARCHITECTURES, config, "architecture").from_config(config)


def create_task(config, label_ids: dict[str, list[int]]):
    return _built_class(TASKS, config, "task").from_config(config, label_ids)
