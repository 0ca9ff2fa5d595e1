"""Progress lines of blockwise jobs: while running (even while one block takes long) and at
the end, with blocks done, blocks/s, an ETA and the time taken."""

import logging
import time

from dacapo_flow.predict.progress import Progress, run_blocks
from dacapo_flow.predict.rate import BlockRate, duration


def test_durations_read_like_a_clock():
    assert [duration(s) for s in (4.4, 187, 7500)] == ["4s", "3m07s", "2h05m"]


def test_progress_is_logged_while_a_slow_block_runs_and_at_the_end(caplog):
    caplog.set_level(logging.INFO, logger="dacapo_flow.predict.rate")
    with BlockRate("predict", total=10, done=4, every_s=0.05) as rate:
        rate.tick()
        time.sleep(0.3)  # one long block: the lines keep coming
        rate.tick()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "predict: 6 of 10 blocks to do (4 done before)"
    running = [line for line in lines[1:-1] if line.startswith("predict: 5/10 blocks")]
    assert len(running) >= 2, lines
    assert "blocks/s, ETA " in running[0] and "unknown" not in running[0]
    assert lines[-1].startswith("predict: stopped, 6/10 blocks, 2 new in 0s (")


def test_run_blocks_logs_each_kind_done(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="dacapo_flow.predict.rate")
    progress = Progress(tmp_path / "m.json", "relabel", "h")
    assert run_blocks([0, 1, 2], progress, lambda b: {"checksum": str(b)})
    assert caplog.records[-1].getMessage().startswith("relabel: done, 3/3 blocks, 3 new in ")
