import json

import pytest

from dacapo_flow.store.best_record import BestRecord, BestRecordError

# What `select-best` wrote before the record had a type (main at a2a65a1), from a scores file
# without the grid: the parameters as a label string.
OLD = {
    "iteration": 300,
    "parameters": "min_size=10,threshold=0.25",
    "score": 0.61,
    "higher_is_better": True,
    "dataset": "validate_0",
    "criterion": "mito__dice",
    "parameter_label": "min_size=10,threshold=0.25",
    "config_hash": "abc",
    "head_labels": ["mito"],
    "checkpoint": "/s/r/checkpoints/iterations/300",
    "weights": "/s/r/validate_0/mito__dice.pt",
}


def write(path, record):
    path.write_text(json.dumps(record))
    return path


def test_a_record_written_by_the_previous_version_reads_with_parameters_as_a_dict(tmp_path):
    record = BestRecord.read(write(tmp_path / "old.json", OLD), "validate_0", "mito__dice")
    assert record.parameters == {"min_size": 10, "threshold": 0.25}
    assert isinstance(record.parameters["min_size"], int)
    assert (record.iteration, record.score, record.direction) == (300, 0.61, "higher")
    assert record.label == "min_size=10,threshold=0.25"
    assert "parameter_label" not in record.model_dump()  # derived now, not stored twice
    assert record.grid_edges == {} and record.edge_warning() is None


@pytest.mark.parametrize(
    "label, expected",
    [
        ("threshold=-0.2", {"threshold": -0.2}),
        ("bias=0.5,threshold=3", {"bias": 0.5, "threshold": 3}),
        ("mode=fast", {"mode": "fast"}),
        ("argmax", {}),
        ({"threshold": 0.5}, {"threshold": 0.5}),
    ],
)
def test_legacy_labels_convert_once_in_the_validator(label, expected):
    record = BestRecord(iteration=1, parameters=label, dataset="d", criterion="c")
    assert record.parameters == expected


def test_a_written_record_reads_back_equal(tmp_path):
    record = BestRecord(
        iteration=4,
        parameters={"bias": 0.9, "min_size": 0},
        score=0.3,
        higher_is_better=False,
        dataset="validate_0",
        criterion="adapted_rand_error",
        grid_edges={"bias": "highest"},
    )
    path = record.write(tmp_path / "r.json")
    assert BestRecord.read(path) == record
    assert record.edge_warning() == "bias=0.9 is the highest of its grid: extend the grid"


def test_bad_records_are_named(tmp_path):
    with pytest.raises(BestRecordError, match="missing.json: cannot read"):
        BestRecord.read(tmp_path / "missing.json")
    (tmp_path / "text.json").write_text("{")
    with pytest.raises(BestRecordError, match="text.json: not valid JSON"):
        BestRecord.read(tmp_path / "text.json")
    with pytest.raises(BestRecordError, match="criterion: Field required"):
        BestRecord.read(write(tmp_path / "short.json", {"iteration": 1, "dataset": "d"}))
    with pytest.raises(BestRecordError, match="dataset is 'validate_0', expected 'other'"):
        BestRecord.read(write(tmp_path / "old.json", OLD), dataset="other")
