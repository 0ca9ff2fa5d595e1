import base64
import csv
import io
import json
import math
import re

import pytest

from dacapo_flow.config.sweeps import sweep_metadata
from dacapo_flow.report.leaderboard import (
    latex_escape,
    leaderboard,
    read_best,
    to_csv,
    to_html,
    to_latex,
    to_markdown,
    write_leaderboard,
)
from dacapo_flow.store.best_record import BestRecord

LR = "trainer_config.learning_rate"


def best(score, iteration=300, threshold=0.0, higher=True, criterion="mito__dice", edges=None):
    return BestRecord(
        iteration=None if score is None else iteration,
        parameters=None if score is None else {"threshold": threshold},
        score=score,
        higher_is_better=higher,
        dataset="validate_0",
        criterion=criterion,
        grid_edges=edges or {},
    )


def entry(lr, rep, score, repetitions=3, **kwargs):
    """(sweep metadata, best record) of repetition `rep` of group d_lr<lr>."""
    meta = sweep_metadata(f"d_lr{lr}_rep{rep}", "d", {LR: lr}, rep, repetitions)
    return meta, best(score, **kwargs)


ENTRIES = [
    entry(1e-4, 0, 0.5, iteration=100),
    entry(1e-4, 1, 0.7, iteration=200, threshold=0.2),
    entry(1e-4, 2, 0.6),
    entry(3e-4, 0, 0.8),
    entry(3e-4, 1, None),  # no valid score: not counted, not averaged
]


def test_rows_aggregate_repetitions_best_first_with_sample_sd():
    rows = leaderboard(ENTRIES)
    assert [row.group for row in rows] == ["d_lr3e-4", "d_lr1e-4"]
    top, second = rows
    assert (top.n, top.expected, top.mean) == (1, 3, 0.8) and math.isnan(top.sd)
    assert second.n == 3 and second.mean == pytest.approx(0.6)
    assert second.sd == pytest.approx(0.1)  # ddof=1: sqrt((0.01 + 0.01) / 2)
    assert [r.iteration for r in second.repetitions] == [100, 200, 300]
    assert second.repetitions[1].parameters == {"threshold": 0.2}


def test_lower_is_better_reverses_the_order_and_empty_rows_come_last():
    entries = [entry(1, 0, 2.0, higher=False), entry(2, 0, 1.0, higher=False)]
    entries.append(entry(3, 0, None, higher=False))
    assert [row.group for row in leaderboard(entries)] == ["d_lr2", "d_lr1", "d_lr3"]


def test_mixed_directions_and_repeated_repetitions_are_refused():
    with pytest.raises(ValueError, match="disagree on whether higher is better"):
        leaderboard([entry(1, 0, 1.0), entry(2, 0, 1.0, higher=False)])
    with pytest.raises(ValueError, match="are both repetition 0"):
        leaderboard([entry(1, 0, 1.0), entry(1, 0, 2.0)])


def test_csv_states_n_expected_and_every_repetition():
    rows = list(csv.DictReader(io.StringIO(to_csv(leaderboard(ENTRIES)))))
    assert rows[0]["group"] == "d_lr3e-4" and rows[0][LR] == "0.0003"
    assert (rows[0]["n"], rows[0]["expected"], rows[0]["sd"]) == ("1", "3", "")
    assert rows[0]["iterations"] == "rep0: 300; rep1: none"
    assert rows[1]["parameters"] == "rep0: threshold=0.0; rep1: threshold=0.2; rep2: threshold=0.0"
    assert rows[1]["direction"] == "higher" and float(rows[1]["sd"]) == pytest.approx(0.1)
    assert rows[1]["runs"] == "d_lr0.0001_rep0;d_lr0.0001_rep1;d_lr0.0001_rep2"


def test_a_parameter_selected_at_the_edge_of_its_grid_says_extend_the_grid():
    rows = leaderboard([entry(1, 0, 0.5, threshold=0.9, edges={"threshold": "highest"})])
    md = to_markdown(rows, "validate_0", "mito__dice")
    assert "rep0: threshold=0.9 (edge of grid: threshold)" in md
    assert "selected at the end of their post-processing grid: extend the grid" in md
    assert "extend the grid" not in to_markdown(leaderboard(ENTRIES), "validate_0", "mito__dice")


def test_markdown_latex_and_html_carry_caption_and_rows():
    rows = leaderboard(ENTRIES)
    md = to_markdown(rows, "validate_0", "mito__dice")
    assert "mito__dice on validate_0 (higher is better)" in md
    assert "1 of 2 rows have fewer repetitions than planned" in md
    assert "| 1 | d_lr3e-4 | d | 0.0003 | 0.8 |  | 1 | 3 | higher |" in md
    tex = to_latex(rows, "validate_0", "mito__dice")
    assert r"d\_lr3e-4" in tex and r"\toprule" in tex and tex.count(r"\\") == 3
    page = to_html(rows, "validate_0", "mito__dice")
    assert page.count("<tr>") == 3 and "d_lr1e-4" in page
    assert latex_escape("a_b&c%{}~^\\") == r"a\_b\&c\%\{\}\textasciitilde{}\^{}\textbackslash{}"


def test_read_best_checks_fields_dataset_and_criterion(tmp_path):
    path = tmp_path / "mito__dice.json"
    best(0.5).write(path)
    assert read_best(path, "validate_0", "mito__dice").score == 0.5
    with pytest.raises(ValueError, match=rf"{path}: criterion is 'mito__dice', expected 'er'"):
        read_best(path, "validate_0", "er")
    path.write_text(json.dumps({"iteration": 3}))
    with pytest.raises(ValueError, match=rf"{path}: dataset: Field required; criterion: Field"):
        read_best(path)


def test_writer_writes_each_format_atomically_and_identically_twice(tmp_path):
    rows = leaderboard(ENTRIES)
    outs = {f"{k}_out": tmp_path / "lb" / f"t.{k}" for k in ("csv", "md", "tex", "html")}
    written = write_leaderboard(rows, "validate_0", "mito__dice", **outs)
    assert sorted(written) == sorted(outs.values())
    first = {p: p.read_bytes() for p in written}
    write_leaderboard(rows, "validate_0", "mito__dice", **outs)
    assert first == {p: p.read_bytes() for p in written}
    assert not [p for p in (tmp_path / "lb").iterdir() if p.name.startswith(".")]


def test_the_html_table_carries_its_csv_and_tex_as_downloads(tmp_path):
    rows = leaderboard(ENTRIES)
    outs = {f"{k}_out": tmp_path / f"t.{k}" for k in ("csv", "tex", "html")}
    write_leaderboard(rows, "validate_0", "mito__dice", **outs)
    page = outs["html_out"].read_text()
    links = dict(re.findall(r'<a download="([^"]+)" href="data:[^,]+,([^"]+)"', page))
    assert sorted(links) == ["validate_0_mito__dice.csv", "validate_0_mito__dice.tex"]
    assert base64.b64decode(links["validate_0_mito__dice.csv"]) == outs["csv_out"].read_bytes()
    assert base64.b64decode(links["validate_0_mito__dice.tex"]) == outs["tex_out"].read_bytes()
