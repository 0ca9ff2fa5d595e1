"""Which selected models the workflow exports (`exports:` in config/config.yaml), and their
checks against the run plan at parse time. No torch: Snakemake imports this while parsing."""

from __future__ import annotations

from pydantic import Field

from ..layout import export_paths
from .base import Config, ConfigError
from .datasplits import NAME_PATTERN

__all__ = [
    "CiteEntry",
    "ExportEntry",
    "check_exports",
    "export_paths",
    "selection_dataset_config",
]


class CiteEntry(Config):
    """A publication or resource to cite with the bioimage.io package."""

    text: str = Field(min_length=1, description="free text, e.g. authors, title, year")
    doi: str | None = Field(None, description="its DOI (10.xxx/...)")
    url: str | None = Field(None, description="or its URL")

    def problems(self) -> list[str]:
        found = super().problems()
        if (self.doi is None) == (self.url is None):
            found.append(
                f"doi: give exactly one of doi and url (got doi {self.doi!r}, url {self.url!r})"
            )
        return found

    def reference(self) -> str:
        return self.doi or self.url


class ExportEntry(Config):
    """Export the model of `run` that is best for `criterion` on validation `dataset`."""

    run: str = Field(pattern=NAME_PATTERN, description="a run of this workflow")
    dataset: str = Field(description="its validation dataset")
    criterion: str = Field(description="the criterion it was selected for")
    author: str | list[str] = Field(
        default_factory=list,
        description="bioimage.io author name or names (default: `git config user.name`, else the login "
        "name, with a warning in the export log)",
    )
    license: str = Field("CC-BY-4.0", min_length=1, description="bioimage.io license (SPDX id)")
    cite: list[CiteEntry] = Field(
        default_factory=list, description="citations listed before DaCapo's ({text, doi | url})"
    )

    @property
    def authors(self) -> list[str]:
        return [self.author] if isinstance(self.author, str) else list(self.author)

    def cli_args(self) -> list[str]:
        """The `dacapo-flow export` options these settings become."""
        args = [arg for name in self.authors for arg in ("--author", name)]
        args += ["--license", self.license]
        for entry in self.cite:
            args += ["--cite", entry.text, entry.reference()]
        return args


def selection_dataset_config(run_config, dataset: str | None):
    """The validation dataset config named `dataset`: the one a best JSON was selected on,
    whose normalisation an export of that model uses."""
    configs = {d.name: d for d in run_config.datasplit_config.validate_configs}
    if dataset not in configs:
        raise ValueError(
            f"run {run_config.name!r}: the best record names validation dataset {dataset!r}; "
            f"the run config has {sorted(configs)}"
        )
    return configs[dataset]


def check_exports(
    exports: list[ExportEntry], plan: dict, source: str = "config/config.yaml"
) -> None:
    """Every entry names a planned run, one of its validation datasets and criteria."""
    problems, seen = [], {}
    for i, entry in enumerate(exports):
        problems += [f"exports[{i}].{line}" for line in entry.problems()]
        key = (entry.run, entry.dataset, entry.criterion)
        if key in seen:
            problems.append(f"exports[{i}]: the same model as exports[{seen[key]}]")
        seen.setdefault(key, i)
        run = plan.get(entry.run)
        if run is None:
            problems.append(f"exports[{i}].run: unknown run {entry.run!r}; known: {sorted(plan)}")
            continue
        problems += [
            f"exports[{i}].{line}"
            for line in run.config.best_record_problems(entry.criterion, entry.dataset)
        ]
    if problems:
        raise ConfigError("\n".join(f"{source}: {line}" for line in problems))
