"""Workdir (vaegan_tf/workdir.py): a run's paths and nothing else, built once per mode; which
checkpoint a run's --checkpoint names."""

import inspect
import os
import subprocess
import sys

import pytest

from vaegan_tf.errors import CheckpointError
from vaegan_tf.workdir import Workdir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_paths_are_the_documented_names_under_the_run(tmp_path):
    run = Workdir(str(tmp_path))
    expected = {"config_file": "config.json", "checkpoints": "checkpoints", "samples": "samples",
                "tensorboard": "tensorboard", "export": "export", "data": "data",
                "cache": "cache", "classifier": "classifier", "regressor": "regressor",
                "metrics": "metrics.jsonl", "benchmark": "benchmark.json",
                "projector": os.path.join("tensorboard", "projector")}
    for attr, name in expected.items():
        assert getattr(run, attr) == os.path.join(str(tmp_path), name), attr
    import vaegan_tf.workdir as module
    for attr in expected:  # every one is in the module's table of what lives where
        assert os.path.basename(getattr(run, attr)) in module.__doc__, attr


def test_a_workdir_holds_paths_only():
    # What it may do: name paths under the run, and find a checkpoint among them. Reading or
    # writing the run's files belongs to the modules that own them (run_record, tensorboard_logs,
    # evaluation/inference).
    public = {n for n, _ in inspect.getmembers(Workdir) if not n.startswith("_")}
    methods = {n for n in public if callable(getattr(Workdir, n))}
    assert methods == {"of", "join", "sample_png", "newest_checkpoint", "checkpoint"}
    run = Workdir("/r")
    assert all(isinstance(getattr(run, n), str) for n in public - methods - {"path"})
    assert Workdir.of(run) is run and Workdir.of("/r") == run


@pytest.mark.slow  # a 2-step training, then a mode that reads it
def test_a_mode_builds_no_workdir_of_its_own(tmp_path, monkeypatch):
    # run.py builds the mode's Workdir and passes it down; nothing below builds another one from
    # the same path (a non-chief's temporary folder and --disl_from's run are other folders).
    from conftest import offline_config

    from vaegan_tf.evaluation import sampling
    from vaegan_tf.training.train import train_mode
    run = Workdir(str(tmp_path / "run"))
    built = []
    init = Workdir.__init__

    def counting(self, *args, **kwargs):
        built.append(args or kwargs)
        init(self, *args, **kwargs)
    monkeypatch.setattr(Workdir, "__init__", counting)
    config = offline_config(train_steps=2, data_dir=str(tmp_path / "data"))
    train_mode(config, run, verbose=0)
    sampling.sample_mode(config, run)
    assert built == []


def test_checkpoint_resolves_newest_prefix_and_folder(saved_checkpoints):
    workdir, _, _ = saved_checkpoints
    run = Workdir(workdir)
    assert run.checkpoint() == run.newest_checkpoint() == os.path.join(run.checkpoints, "ckpt-4")
    assert run.checkpoint(os.path.join(run.checkpoints, "ckpt-2")).endswith("ckpt-2")
    assert run.checkpoint(run.checkpoints).endswith("ckpt-4")
    missing = os.path.join(run.checkpoints, "ckpt-3")
    with pytest.raises(CheckpointError, match=f"--checkpoint={missing}: no such checkpoint"):
        run.checkpoint(missing)
    with pytest.raises(CheckpointError, match="no checkpoint in this folder"):
        run.checkpoint(os.path.dirname(workdir))
    with pytest.raises(CheckpointError, match="no checkpoint in .*: train first"):
        Workdir(os.path.dirname(workdir)).checkpoint()


@pytest.mark.slow  # run.py in a subprocess
@pytest.mark.parametrize("mode", ["sample", "evaluate", "export"])
def test_a_missing_checkpoint_is_one_line_not_the_newest(saved_checkpoints, mode):
    workdir, _, _ = saved_checkpoints
    missing = os.path.join(workdir, "checkpoints", "ckpt-99")
    before = sorted(os.listdir(workdir))
    result = subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), f"--mode={mode}",
                             f"--workdir={workdir}", f"--checkpoint={missing}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith(f"error: --checkpoint={missing}: no such checkpoint"), last
    assert sorted(os.listdir(workdir)) == before  # nothing sampled or evaluated from another one


