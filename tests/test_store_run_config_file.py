"""The resolved run config file: what every job of a run reads instead of rebuilding the run
from a YAML file, a name, a repetition and a grid point."""

import os

from dacapo_flow.config.base import STAGES
from dacapo_flow.config.loading import load_run_config
from dacapo_flow.config.sweeps import expand_sweep
from dacapo_flow.store.run_config_file import write_run_config
from workflow_support import TINY_DIR


def test_the_file_loads_back_to_the_same_run_with_the_same_stage_hashes(tmp_path):
    source = TINY_DIR / "runs" / "affinities.yaml"
    (_, swept) = expand_sweep(source, {"trainer_config.learning_rate": [0.002]}, repetitions=2)
    config = swept.run_config
    assert swept.name == "affinities_lr2e-3_rep1"
    out = tmp_path / "store" / swept.name / "run_config.yaml"
    assert write_run_config(config, out, str(source))
    loaded = load_run_config(out, verify=False)
    assert loaded == config
    assert (loaded.name, loaded.repetition) == ("affinities_lr2e-3_rep1", 1)
    assert loaded.trainer_config.learning_rate == 0.002
    assert {s: loaded.stage_hash(s) for s in STAGES} == {s: config.stage_hash(s) for s in STAGES}
    assert out.read_text().startswith("# Run 'affinities_lr2e-3_rep1' as the workflow")


def test_an_unchanged_config_is_not_rewritten_and_a_changed_one_is(tmp_path):
    source = TINY_DIR / "runs" / "distance.yaml"
    config = load_run_config(source, verify=False)
    out = tmp_path / "run_config.yaml"
    write_run_config(config, out, str(source))
    os.utime(out, (1, 1))
    assert not write_run_config(config, out, str(source))
    assert out.stat().st_mtime == 1  # Snakemake sees nothing new
    changed = config.model_copy(update={"num_iterations": config.num_iterations + 1})
    assert write_run_config(changed, out, str(source))
    assert load_run_config(out, verify=False).num_iterations == config.num_iterations + 1
