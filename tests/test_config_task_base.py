"""The task configs' shared base (dacapo_flow.config.task_base): what every task checks the
same way, and the criteria that are not selected alone."""

import pytest

from dacapo_flow.config.task_base import (
    PARTIAL_METRICS,
    TaskConfig,
    clip_problems,
    duplicates,
    grid_key_problems,
    missing_labels,
)
from dacapo_flow.config.tasks import AffinitiesTaskConfig, DistanceTaskConfig


class Channels(TaskConfig):
    """A task with given channels and criteria, to test the base alone."""

    labels: list[str]

    def head_labels(self):
        return self.labels

    def criteria(self):
        return ["a__voi", "a__voi_split", "voi_merge", "dice"]

    def _metric_higher_is_better(self, criterion):
        return criterion == "dice"


def test_voi_split_and_merge_are_scored_but_not_selected_by_default():
    task = Channels(labels=["a"])
    assert set(PARTIAL_METRICS) == {"voi_split", "voi_merge"}
    assert task.default_selected_criteria() == ["a__voi", "dice"]
    assert task.higher_is_better("dice") and not task.higher_is_better("a__voi")
    with pytest.raises(ValueError, match="Channels: unknown criterion 'f1'"):
        task.higher_is_better("f1")


def test_no_channels_and_repeated_channels_are_problems():
    assert "the task has no output channels" in Channels(labels=[]).problems()
    assert "output channel 'a' is listed twice" in Channels(labels=["a", "b", "a"]).problems()
    assert duplicates([3, 1, 3, 1, 2]) == [1, 3]


def test_the_shared_checks_name_their_keys():
    assert clip_problems(DistanceTaskConfig(channels=["m"], clipmin=0.9, clipmax=0.1)) == [
        "clipmin must be smaller than clipmax"
    ]
    assert missing_labels("task_config.channels", ["m", "e"], {"m": [1]}) == [
        "task_config.channels: label 'e' has no entry in datasplit_config.label_ids ['m']"
    ]
    both = AffinitiesTaskConfig(
        neighborhood=[[0, 1, 0]],
        thresholds=[0.3],
        post_processing={"threshold": {"thresholds": [0.5]}},
    )
    (problem,) = grid_key_problems(both)
    assert problem.endswith("give the threshold grid as post_processing.threshold.thresholds")
