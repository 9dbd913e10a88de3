"""SavedModel export: the versions and files training and --mode=export write, and their errors
(what the signatures serve: test_serving.py)."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config
from export_helpers import (
    LATENT,
    _models_config,
    _one_line_error,
)

from export.saved_model import export_mode, export_model
from vaegan_tf.config import RESUME_SAFE_FIELDS
from vaegan_tf.errors import CheckpointError, ConfigError
from vaegan_tf.model.vaegan import VAEGAN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_training_exports_every_n_steps_and_at_the_end(trained):
    workdir, _ = trained
    export_dir = os.path.join(workdir, "export")
    assert sorted(os.listdir(export_dir)) == ["decoder", "encoder", "models.config",
                                              "vaegan.keras"]  # no .tmp, no staged .keras
    for name in ("encoder", "decoder"):
        assert sorted(os.listdir(os.path.join(export_dir, name))) == ["2", "4"]
    config = _models_config(workdir)
    models = {c.name: c for c in config.model_config_list.config}
    assert sorted(models) == ["decoder", "encoder"]
    for name, entry in models.items():
        assert entry.base_path == os.path.abspath(os.path.join(export_dir, name))
        assert os.path.isabs(entry.base_path) and entry.model_platform == "tensorflow"


@pytest.mark.slow  # exports twice more
def test_versions_are_never_overwritten(trained, tmp_path):
    workdir, _ = trained
    copy = str(tmp_path / "copy")
    os.makedirs(copy)
    shutil.copy(os.path.join(workdir, "config.json"), copy)
    shutil.copytree(os.path.join(workdir, "checkpoints"), os.path.join(copy, "checkpoints"))

    written = export_mode(copy)  # the newest checkpoint: step 4
    assert written == {**{n: os.path.join(copy, "export", n, "4") for n in ("encoder", "decoder")},
                       "keras": os.path.join(copy, "export", "vaegan.keras")}
    weights = os.path.join(copy, "export", "encoder", "4", "variables",
                           "variables.data-00000-of-00001")
    before = open(weights, "rb").read()
    marker = os.path.join(copy, "export", "encoder", "4", "MARKER")
    open(marker, "w").close()

    # A different model under an existing version changes nothing.
    other = VAEGAN(tiny_config(data_dir=copy, seed=5))
    assert export_model(other, copy, 4) == {"encoder": None, "decoder": None}
    assert os.path.exists(marker) and open(weights, "rb").read() == before

    written = export_mode(copy, checkpoint=os.path.join(copy, "checkpoints", "ckpt-2"))
    assert written["encoder"].endswith(os.path.join("encoder", "2"))
    assert sorted(os.listdir(os.path.join(copy, "export", "decoder"))) == ["2", "4"]
    assert ".tmp" not in os.listdir(os.path.join(copy, "export"))


def test_export_errors_name_the_cause(tmp_path, trained):
    with pytest.raises(CheckpointError, match="does not exist"):
        export_mode(str(tmp_path / "nope"))
    with pytest.raises(CheckpointError, match="config.json"):
        export_mode(str(tmp_path))
    workdir, _ = trained
    with pytest.raises(CheckpointError, match="ckpt-99"):
        export_mode(workdir, checkpoint=os.path.join(workdir, "checkpoints", "ckpt-99"))
    shutil.copy(os.path.join(workdir, "config.json"), tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        export_mode(str(tmp_path))


@pytest.mark.slow  # trains and exports a run of its own
def test_gan_exports_only_the_decoder(tmp_path):
    model = VAEGAN(tiny_config(model="gan"))
    written = export_model(model, str(tmp_path), 1)
    assert list(written) == ["decoder"]
    assert sorted(os.listdir(tmp_path / "export")) == ["decoder", "models.config"]
    assert [c.name for c in _models_config(str(tmp_path)).model_config_list.config] == ["decoder"]


def test_export_every_is_validated_and_resume_safe():
    with pytest.raises(ConfigError, match="--export_every"):
        tiny_config(export_every=-1)
    assert "export_every" in RESUME_SAFE_FIELDS


def _run(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.slow  # run.py in a subprocess
def test_run_py_export_mode(trained, tmp_path):
    workdir, _ = trained
    copy = tmp_path / "copy"
    os.makedirs(copy)
    shutil.copy(os.path.join(workdir, "config.json"), copy)
    shutil.copytree(os.path.join(workdir, "checkpoints"), copy / "checkpoints")
    result = _run("--mode=export", f"--workdir={copy}", f"--checkpoint={copy}/checkpoints/ckpt-2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.listdir(copy / "export" / "encoder") == ["2"]
    assert os.path.exists(copy / "export" / "models.config")

    _one_line_error(_run("--mode=export", f"--workdir={tmp_path}"), str(tmp_path), "config.json")




def test_a_failed_export_names_the_version_and_keeps_the_earlier_ones(trained, tmp_path):
    from vaegan_tf.errors import WriteError
    workdir, model = trained
    copy = str(tmp_path / "run")
    shutil.copytree(os.path.join(workdir, "export"), os.path.join(copy, "export"))
    # Where the export stages its files stands a regular file: the write fails as on a full disk.
    with open(os.path.join(copy, "export", ".tmp"), "w") as f:
        f.write("blocks the staging folder")
    with pytest.raises(WriteError, match=r"cannot write SavedModel \S*export/encoder/9: "):
        export_model(model, copy, 9)
    for name in ("encoder", "decoder"):
        assert sorted(os.listdir(os.path.join(copy, "export", name))) == ["2", "4"]
    loaded = tf.saved_model.load(os.path.join(copy, "export", "decoder", "4"))
    z = np.zeros((1, LATENT), np.float32)
    np.testing.assert_allclose(loaded.signatures["serving_default"](z=z)["images"],
                               model.decoder(z, training=False), atol=1e-5)
