"""Reading configs from YAML with errors that name the file and the key path."""

from pathlib import Path

import yaml
from pydantic import ValidationError

from .base import Config, ConfigError
from .run_config import RunConfig


def read_yaml(path: Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        duplicates = _duplicate_keys(node, "")
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if duplicates:
        raise ConfigError("\n".join(f"{path}: {line}" for line in duplicates))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return data


def _duplicate_keys(node, where: str) -> list[str]:
    """Keys given twice in one mapping, as "key.path: given twice (lines a and b)" lines.
    PyYAML keeps the last silently; a user editing the first would change nothing."""
    found = []
    if isinstance(node, yaml.MappingNode):
        seen: dict = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            path = f"{where}.{key}" if where else str(key)
            line = key_node.start_mark.line + 1
            if key is not None and key != "<<" and key in seen:
                found.append(
                    f"{path}: given twice (lines {seen[key]} and {line}); YAML would silently "
                    "keep the last, remove one"
                )
            elif key is not None:
                seen[key] = line
            found += _duplicate_keys(value_node, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicate_keys(item, f"{where}[{index}]")
    return found


def format_validation_error(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        # Drop union-tag segments pydantic inserts, e.g. task_config.distance.channels.
        loc = [str(p) for p in item["loc"] if not _is_tag(p)]
        key = ".".join(loc) or "<top level>"
        lines.append(f"{source}: {key}: {_message(item)}")
    return "\n".join(lines)


_PLAIN = {
    "path_type": "expected a path (text)",
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
    "dict_type": "expected a mapping of keys",
    "is_instance_of": "expected a mapping of keys",
}


def _message(item: dict) -> str:
    """pydantic's message, with the offending value when it is a scalar."""
    message = item["msg"]
    if item["type"] == "string_pattern_mismatch":
        return (
            f"{item['input']!r} cannot be a file name or workflow wildcard: use letters, "
            "digits, '_', '.' and '-', starting with a letter or digit"
        )
    # pydantic's wording of these names Python classes; say what the YAML must hold instead.
    message = _PLAIN.get(item["type"], message)
    value = item.get("input")
    if isinstance(value, (bool, int, float)) and item["type"] != "extra_forbidden":
        message += f", got {value!r}"
    return message


def _discriminator_tags() -> set[str]:
    """Values of every config's `type` literal: pydantic puts them in error locations."""
    tags, todo = set(), [Config]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        field = cls.model_fields.get("type")
        if field is not None and isinstance(field.default, str):
            tags.add(field.default)
    return tags


# Tags of the unions told apart by a function (start_config forms, label ids): hyphenated,
# so they can never be a field name.
_CALLABLE_TAGS = {"start-run", "start-dacapo", "start-checkpoint", "label-ids", "label-nonzero"}


def _is_tag(part) -> bool:
    return isinstance(part, str) and (part in _CALLABLE_TAGS or part in _discriminator_tags())


def parse_config(model: type[Config], data: dict, source: str) -> Config:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source)) from None


def verified(config: Config, source: str) -> Config:
    """`config` if its values verify; else ConfigError naming `source` and every key. No
    array is opened (see `dacapo_flow.data.array_checks.verify_run_data`)."""
    ok, message = config.verify()
    if not ok:
        raise ConfigError("\n".join(f"{source}: {line}" for line in message.splitlines()))
    return config


def load_run_config(path, name=None, repetition=None, verify=True) -> RunConfig:
    """Load a run config; `name` / `repetition` override the file's (for repetitions).
    `verify` checks its values (no array is opened)."""
    data = read_yaml(path)
    if name is not None:
        data["name"] = name
    if repetition is not None:
        data["repetition"] = repetition
    config = parse_config(RunConfig, data, str(path))
    return verified(config, str(path)) if verify else config
