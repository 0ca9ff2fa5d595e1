"""DaCapo 0.3.5's validation-score bookkeeping, for code written against its API.

The workflow never needs these: each validation job scores one checkpoint into its own file and
`select-best` merges the files, so nothing is rolled back, compared or appended to in place.
`DaCapoValidationScores` is a `ValidationScores` with DaCapo's methods on top (`subscores`,
`delete_after`, `validated_until`, `compare`, `parameter_names`), keeping DaCapo's semantics
but not its defects: `keep_up_to` is what resuming from a checkpoint needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dacapo_flow.stats.validation_scores import ValidationIterationScores, ValidationScores


class DaCapoValidationScores(ValidationScores):
    """`ValidationScores` with DaCapo's in-place bookkeeping methods."""

    @classmethod
    def of(cls, scores: ValidationScores) -> DaCapoValidationScores:
        """The same scores, with DaCapo's methods."""
        return cls(scores.parameters, scores.datasets, scores.evaluation_scores, scores.scores)

    @property
    def parameter_names(self) -> list[str]:
        """Names of the post-processing parameters (union of the grid's keys, in order)."""
        names: list[str] = []
        for parameters in self.parameters:
            keys = parameters if isinstance(parameters, dict) else ()
            keys = getattr(parameters, "parameter_names", keys)
            names += [key for key in keys if key not in names]
        return names

    def subscores(
        self, iteration_scores: Iterable[ValidationIterationScores]
    ) -> DaCapoValidationScores:
        """Same grid, datasets and criteria with other scores."""
        return type(self)(
            self.parameters, self.datasets, self.evaluation_scores, list(iteration_scores)
        )

    def delete_after(self, iteration: int) -> None:
        """Keep only scores of iterations before `iteration` (DaCapo semantics)."""
        self.scores = [s for s in self.scores if s.iteration < iteration]

    def keep_up_to(self, iteration: int) -> None:
        """Roll back to checkpoint `iteration`, keeping that checkpoint's own scores.

        This is what resuming from checkpoint N needs; DaCapo's `delete_after(N)` there
        dropped the scores of N itself."""
        self.scores = [s for s in self.scores if s.iteration <= iteration]

    def validated_until(self) -> int:
        """Last validated iteration + 1, or 0 (DaCapo semantics)."""
        return max(s.iteration for s in self.scores) + 1 if self.scores else 0

    def compare(self, existing_iteration_scores: Sequence[ValidationIterationScores]):
        """-> (drop_existing, store_from), as DaCapo: (False, 0) if nothing exists; (True, 0)
        if the existing scores reach further than these (rewrite them all); otherwise
        (False, existing validated_until) (append ours from there)."""
        if not existing_iteration_scores:
            return False, 0
        existing_until = max(s.iteration for s in existing_iteration_scores) + 1
        if existing_until > self.validated_until():
            return True, 0
        return False, existing_until
