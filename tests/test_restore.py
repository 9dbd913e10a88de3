"""restore.py: the offline modes read the checkpoint asked for, and a missing one is an error."""

import os
import subprocess
import sys

import pytest

from conftest import tiny_config
from vaegan_tf import restore
from vaegan_tf.errors import CheckpointError
from vaegan_tf.train import train_and_evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny run with checkpoints at steps 2 and 4: (workdir, config)."""
    root = tmp_path_factory.mktemp("restore")
    config = tiny_config(data_dir=str(root / "data"), train_steps=4, checkpoint_every=2,
                         keep_checkpoints=5)
    workdir = str(root / "run")
    train_and_evaluate(config, workdir, verbose=0)
    return workdir, config


@pytest.mark.slow  # its module fixture trains a 4-step run
def test_checkpoint_chooses_the_step(run):
    workdir, config = run
    ckpts = os.path.join(workdir, "checkpoints")
    assert restore.restore_model(config, workdir)[1] == 4  # default: the newest
    older = config.replace(checkpoint=os.path.join(ckpts, "ckpt-2"))
    assert restore.restore_model(older, workdir)[1] == 2
    assert restore.restore_model(config.replace(checkpoint=ckpts), workdir)[1] == 4  # a folder
    missing = os.path.join(ckpts, "ckpt-3")
    with pytest.raises(CheckpointError, match=f"--checkpoint={missing}: no such checkpoint"):
        restore.restore_model(config.replace(checkpoint=missing), workdir)


@pytest.mark.slow  # run.py in a subprocess
@pytest.mark.parametrize("mode", ["sample", "evaluate"])
def test_a_missing_checkpoint_is_one_line_not_the_newest(run, mode):
    workdir, _ = run
    missing = os.path.join(workdir, "checkpoints", "ckpt-99")
    before = sorted(os.listdir(workdir))
    result = subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), f"--mode={mode}",
                             f"--workdir={workdir}", f"--checkpoint={missing}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = [l for l in result.stderr.splitlines() if l.strip()][-1]
    assert last.startswith(f"error: --checkpoint={missing}: no such checkpoint"), last
    assert sorted(os.listdir(workdir)) == before  # nothing sampled or evaluated from another one
