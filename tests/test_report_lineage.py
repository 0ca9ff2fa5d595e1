import json

import pytest

from dacapo_flow.config.sweeps import sweep_metadata
from dacapo_flow.report.lineage import (
    lineage,
    lineage_figure,
    to_listing,
    to_markdown,
    write_lineage,
)
from dacapo_flow.store.best_record import BestRecord


def meta(run, start=None):
    return sweep_metadata(run, run, start=start)


def start(run, criterion="mito__dice", dataset="validate_0"):
    return {"run": run, "criterion": criterion, "dataset": dataset}


METADATA = [
    meta("finetune", start("distance")),
    meta("affinities"),
    meta("distance"),
    meta("second", start("finetune", "nucleus__dice")),
    meta("from_checkpoint", start("distance", "200", None)),
]
RECORDS = {
    "finetune": BestRecord(
        iteration=300, score=0.61234, dataset="validate_0", criterion="mito__dice"
    )
}


def test_the_lineage_is_a_forest_in_tree_order():
    nodes = lineage(METADATA, RECORDS)
    assert [(n.run, n.depth, n.root) for n in nodes] == [
        ("affinities", 0, "affinities"),
        ("distance", 0, "distance"),
        ("finetune", 1, "distance"),
        ("second", 2, "distance"),
        ("from_checkpoint", 1, "distance"),
    ]
    finetune = nodes[2]
    assert finetune.upstream == "distance" and finetune.iteration == 300
    assert (
        finetune.origin()
        == "best mito__dice on validate_0 of distance (iteration 300, score 0.6123)"
    )
    assert nodes[4].origin() == "checkpoint 200 of distance"
    assert nodes[0].origin() == ""


def test_an_upstream_outside_the_inputs_is_shown_and_marked():
    nodes = lineage([meta("ft", start("elsewhere"))])
    assert [(n.run, n.in_report) for n in nodes] == [("elsewhere", False), ("ft", True)]
    assert "- **elsewhere** (not in this report)" in to_markdown(nodes)


def test_cycles_and_duplicates_are_refused():
    with pytest.raises(ValueError, match=r"cycle among runs \['a', 'b'\]"):
        lineage([meta("a", start("b")), meta("b", start("a"))])
    with pytest.raises(ValueError, match="appears twice"):
        lineage([meta("a"), meta("a")])


def test_listing_and_markdown():
    nodes = lineage(METADATA, RECORDS)
    listing = to_listing(nodes)
    assert [r["run"] for r in listing["runs"]][:3] == ["affinities", "distance", "finetune"]
    assert listing["runs"][2]["origin"].startswith("best mito__dice")
    json.dumps(listing)  # plain JSON
    md = to_markdown(nodes)
    assert "  - **finetune**: from best mito__dice on validate_0 of distance" in md
    assert "    - **second**: from best nucleus__dice" in md


def test_the_drawing_has_one_box_per_run_and_one_arrow_per_start():
    nodes = lineage(METADATA, RECORDS)
    figure = lineage_figure(nodes)
    (ax,) = figure.axes
    texts = [t.get_text() for t in ax.texts]
    assert all(n.run in texts for n in nodes)
    assert len([t for t in ax.texts if getattr(t, "arrow_patch", None)]) == 3


def test_written_files_are_identical_across_reruns(tmp_path):
    nodes = lineage(METADATA, RECORDS)
    contents = []
    for attempt in ("a", "b"):
        names = {"json_out": "l.json", "md_out": "l.md", "png": "l.png", "svg": "l.svg"}
        outs = {key: tmp_path / attempt / name for key, name in names.items()}
        written = write_lineage(nodes, **outs)
        assert len(written) == 4
        contents.append([p.read_bytes() for p in written])
    assert contents[0] == contents[1]


def test_a_start_outside_the_workflow_is_a_root_that_says_where_it_came_from():
    external = "DaCapo run mito_v3 (best mito__dice on val) in /groups/dacapo/runs"
    nodes = lineage(METADATA + [meta("from_dacapo", {"external": external})], RECORDS)
    [node] = [n for n in nodes if n.run == "from_dacapo"]
    assert (node.depth, node.upstream, node.origin()) == (0, None, external)
    assert f"- **from_dacapo**: from {external}" in to_markdown(nodes)
    texts = [t.get_text() for t in lineage_figure(nodes).axes[0].texts]
    assert external in texts
