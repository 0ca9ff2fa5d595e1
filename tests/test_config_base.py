import pytest
from pydantic import Field, ValidationError

from dacapo_flow.config.base import STAGES, Config, ConfigError, added, field_stage, staged


class Leaf(Config):
    size: int = 1
    note: str = staged("none", "")
    grid: list[float] = staged("validate", [0.5])

    def problems(self):
        found = super().problems()
        if self.size < 1:
            found.append(f"size: must be >= 1, got {self.size}")
        return found


class Tree(Config):
    leaf: Leaf = Leaf()
    leaves: list[Leaf] = Field(default_factory=list)
    evaluated: Leaf = staged("validate", Leaf())
    pick: list[str] = staged("select", [])


def test_unknown_keys_are_rejected():
    with pytest.raises(ValidationError, match="size_typo"):
        Leaf(size_typo=3)


def test_wrong_types_are_rejected_not_coerced_from_nonsense():
    with pytest.raises(ValidationError, match="size"):
        Leaf(size="three")


def test_configs_are_immutable():
    leaf = Leaf()
    with pytest.raises(ValidationError):
        leaf.size = 2


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_staged_tags_fields_and_rejects_unknown_stages():
    assert STAGES == ("train", "validate", "select", "none")
    assert field_stage(Leaf, "note") == "none"
    assert field_stage(Leaf, "grid") == "validate"
    assert field_stage(Leaf, "size") is None  # inherits its parent's stage
    with pytest.raises(ValueError, match="unknown stage"):
        staged("predict", 1)


def test_verify_reports_every_problem_with_its_key_path():
    tree = Tree(leaf=Leaf(size=0), leaves=[Leaf(), Leaf(size=-1)])
    ok, message = tree.verify()
    assert not ok
    lines = message.splitlines()
    assert "leaf.size: must be >= 1, got 0" in lines
    assert "leaves[1].size: must be >= 1, got -1" in lines
    assert len(lines) == 2


def test_verify_accepts_a_valid_config():
    assert Tree().verify() == (True, "Tree is valid")


def test_stage_payload_holds_only_the_fields_of_that_stage():
    tree = Tree(leaf=Leaf(size=2, note="x", grid=[0.1]), pick=["a"])
    assert tree.stage_payload("train") == {"leaf": {"size": 2}, "leaves": []}
    assert tree.stage_payload("validate") == {
        "leaf": {"grid": [0.1]},
        # An untagged field inside a "validate" subtree belongs to validation.
        "evaluated": {"size": 1, "grid": [0.5]},
    }
    assert tree.stage_payload("select") == {"pick": ["a"]}
    assert tree.stage_payload("none") == {"leaf": {"note": "x"}, "evaluated": {"note": ""}}


def test_stage_hash_is_stable_short_and_sensitive_to_its_stage_only():
    base = Tree()
    assert base.stage_hash("train") == Tree().stage_hash("train")
    assert len(base.stage_hash("train")) == 16
    int(base.stage_hash("train"), 16)

    changed_train = Tree(leaf=Leaf(size=5))
    assert changed_train.stage_hash("train") != base.stage_hash("train")
    assert changed_train.stage_hash("validate") == base.stage_hash("validate")

    changed_grid = Tree(leaf=Leaf(grid=[0.9]))
    assert changed_grid.stage_hash("train") == base.stage_hash("train")
    assert changed_grid.stage_hash("validate") != base.stage_hash("validate")

    changed_note = Tree(leaf=Leaf(note="comment"))
    for stage in ("train", "validate", "select"):
        assert changed_note.stage_hash(stage) == base.stage_hash(stage)

    changed_pick = Tree(pick=["x"])
    assert changed_pick.stage_hash("select") != base.stage_hash("select")
    assert changed_pick.stage_hash("train") == base.stage_hash("train")
    assert changed_pick.stage_hash("validate") == base.stage_hash("validate")


class Grown(Config):
    size: int = 1
    clip: bool = added(True)


def test_added_fields_enter_the_hash_only_when_set_to_a_non_default_value():
    class Before(Config):
        size: int = 1

    assert Grown().stage_hash("train") == Before().stage_hash("train")
    assert Grown(clip=False).stage_hash("train") != Before().stage_hash("train")
    assert Grown(clip=False).stage_payload("train") == {"size": 1, "clip": False}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_refused_in_every_float_field(value):
    class Floats(Config):
        one: float = 0.0
        many: list[float] = Field(default_factory=list)
        pair: tuple[float, float] = (0.0, 1.0)
        maybe: float | None = None

    for fields in (
        {"one": value},
        {"many": [1.0, value]},
        {"pair": (value, 1.0)},
        {"maybe": value},
    ):
        with pytest.raises(ValidationError, match="finite number"):
            Floats(**fields)


def test_verify_looks_at_the_values_and_opens_nothing(tmp_path):
    """Arrays are checked by data.array_checks (tests/test_data_array_checks.py)."""
    from dacapo_flow.config.datasplits import ArrayConfig

    missing = ArrayConfig(path=tmp_path / "nowhere.zarr", dataset="raw")
    assert missing.verify() == (True, "ArrayConfig is valid")
