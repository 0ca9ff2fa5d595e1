import math

import pytest

from dacapo_flow.stats.training_stats import TrainingIterationStats, TrainingStats


def stats_for(iterations, loss_offset=0.0):
    return TrainingStats(
        TrainingIterationStats(i, loss=float(i) + loss_offset, time=0.01) for i in iterations
    )


def test_trained_until_counts_steps_done():
    stats = TrainingStats()
    assert stats.trained_until() == 0
    for i in range(3):
        stats.add_iteration_stats(TrainingIterationStats(i, 1.0, 0.1))
    assert stats.trained_until() == 3


def test_repeated_step_replaces_from_that_step_and_keeps_the_one_before():
    # DaCapo called delete_after(s.iteration - 1), also dropping step s.iteration - 1.
    stats = stats_for(range(5))
    stats.add_iteration_stats(TrainingIterationStats(3, loss=99.0, time=0.2))
    assert [s.iteration for s in stats.iteration_stats] == [0, 1, 2, 3]
    assert stats.iteration_stats[2].loss == 2.0
    assert stats.iteration_stats[3].loss == 99.0
    assert stats.trained_until() == 4


def test_delete_after_keeps_earlier_steps():
    stats = stats_for(range(5))
    stats.delete_after(2)
    assert [s.iteration for s in stats.iteration_stats] == [0, 1]


def test_to_xarray_has_losses_and_times_along_iterations():
    data = stats_for(range(3)).to_xarray()
    assert data.dims == ("iterations",)
    assert data["iterations"].values.tolist() == [0, 1, 2]
    assert data.values.tolist() == [0.0, 1.0, 2.0]
    assert data["time"].values.tolist() == [0.01] * 3


def test_netcdf_round_trip(tmp_path):
    stats = stats_for(range(4), loss_offset=0.5)
    stats.to_netcdf(tmp_path / "stats" / "training_stats_4.nc")
    assert TrainingStats.from_netcdf(tmp_path / "stats" / "training_stats_4.nc") == stats
    empty = TrainingStats()
    empty.to_netcdf(tmp_path / "empty.nc")
    assert TrainingStats.from_netcdf(tmp_path / "empty.nc").trained_until() == 0


def test_concat_joins_chunk_files_in_order(tmp_path):
    paths = []
    for k, chunk in enumerate([range(3), range(3, 6), range(6, 8)]):
        paths.append(tmp_path / f"chunk{k}.nc")
        stats_for(chunk).to_netcdf(paths[-1])
    joined = TrainingStats.concat(TrainingStats.from_netcdf(p) for p in paths)
    assert [s.iteration for s in joined.iteration_stats] == list(range(8))
    assert joined.trained_until() == 8


def test_concat_lets_a_retrained_chunk_supersede_overlapping_steps():
    joined = TrainingStats.concat([stats_for(range(6)), stats_for(range(3, 5), loss_offset=10)])
    assert [s.iteration for s in joined.iteration_stats] == [0, 1, 2, 3, 4]
    assert joined.iteration_stats[3].loss == 13.0


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.nc"):
        TrainingStats.from_netcdf(tmp_path / "nope.nc")


def test_data_wait_and_learning_rate_round_trip_and_old_files_read_as_nan(tmp_path):
    stats = TrainingStats([TrainingIterationStats(0, 1.0, 0.2, 0.05, 1e-3)])
    stats.to_netcdf(tmp_path / "new.nc")
    (back,) = TrainingStats.from_netcdf(tmp_path / "new.nc").iteration_stats
    assert (back.data_wait, back.learning_rate) == (0.05, 1e-3)
    old = stats.to_xarray().drop_vars(["data_wait", "learning_rate"])
    old.to_netcdf(tmp_path / "old.nc", engine="h5netcdf")
    (back,) = TrainingStats.from_netcdf(tmp_path / "old.nc").iteration_stats
    assert math.isnan(back.data_wait) and math.isnan(back.learning_rate)
