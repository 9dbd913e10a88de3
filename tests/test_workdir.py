"""Workdir (vaegan_tf/workdir.py): a run's paths, its config.json, resuming, its checkpoints,
restoring a model and its HParams record."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import tiny_config

from vaegan_tf.config import Config
from vaegan_tf.errors import CheckpointError
from vaegan_tf.model.vaegan import VAEGAN
from vaegan_tf.training import checkpointing
from vaegan_tf.workdir import Workdir, hyperparameters

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A workdir with config.json and untrained checkpoints at steps 2 and 4 (the step-4 one with
    other weights): (workdir, config, {step: decoder weights})."""
    workdir = str(tmp_path_factory.mktemp("workdir"))
    config = tiny_config(data_dir=os.path.join(workdir, "no_data"), keep_checkpoints=5)
    Workdir(workdir).write_config(config)
    model = VAEGAN(config)
    model.compile()
    manager = checkpointing.make_manager(model, workdir, config)
    weights = {}
    for step in (2, 4):
        model.step.assign(step)
        for v in model.decoder.weights:
            v.assign(np.random.default_rng(step).normal(size=v.shape).astype(np.float32))
        weights[step] = [v.numpy() for v in model.decoder.weights]
        manager.save(checkpoint_number=step)
    return workdir, config, weights


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


def test_defaults_go_under_the_run_and_given_folders_stay(tmp_path):
    run = Workdir(str(tmp_path))
    config = run.with_defaults(Config(dataset="synthetic", cache="file"))
    assert (config.data_dir, config.cache_dir) == (run.data, run.cache)
    given = Config(dataset="celeba", data_dir="/d", cache="file", cache_dir="/c")
    assert run.with_defaults(given) == given
    assert run.with_defaults(Config(cache="memory", data_dir="/d")).cache_dir == ""


def test_config_round_trip_leaves_no_temporary(tmp_path):
    run = Workdir(str(tmp_path / "run"))
    assert run.recorded() is None
    config = tiny_config(gamma=0.25)
    run.write_config(config)
    assert run.config() == config
    assert os.listdir(run.path) == ["config.json"]


def test_resume_refuses_a_model_field_and_allows_a_safe_one(tmp_path):
    run = Workdir(str(tmp_path))
    run.write_config(tiny_config())
    run.check_resumable(tiny_config(train_steps=99, data_dir="/elsewhere"))  # resume-safe
    with pytest.raises(CheckpointError, match=r"--latent_dim=9 differs from 8 recorded in"):
        run.check_resumable(tiny_config(latent_dim=9))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read .*config.json"):
        run.check_resumable(tiny_config())


def test_require_run_names_what_is_missing(tmp_path):
    with pytest.raises(CheckpointError, match=r"--workdir=\S*nowhere does not exist"):
        Workdir(str(tmp_path / "nowhere")).config()
    with pytest.raises(CheckpointError, match="holds no trained run"):
        Workdir(str(tmp_path)).config()


def test_offline_config_takes_offline_fields_and_ignores_model_flags(tmp_path):
    recorded = tiny_config(model="vae", data_dir="/data")
    Workdir(str(tmp_path)).write_config(recorded)
    flags = Config(eval_images=7, classifier_dir="/x", data_dir="/elsewhere")  # model=vaegan
    config = Workdir(str(tmp_path)).offline_config(flags, explicit={"model", "eval_images"})
    assert (config.model, config.eval_images, config.classifier_dir) == ("vae", 7, "/x")
    assert config.data_dir == "/data"  # not given explicitly
    assert Workdir(str(tmp_path)).offline_config(flags, {"data_dir"}).data_dir == "/elsewhere"


def test_checkpoint_resolves_newest_prefix_and_folder(saved):
    workdir, _, _ = saved
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


def test_restore_reads_the_asked_checkpoint(saved):
    workdir, config, weights = saved
    for step, checkpoint in ((4, None), (2, os.path.join(workdir, "checkpoints", "ckpt-2"))):
        model = Workdir(workdir).restore(checkpoint=checkpoint)
        assert int(model.step.numpy()) == step and model.config == config
        for got, want in zip(model.decoder.weights, weights[step]):
            np.testing.assert_array_equal(got.numpy(), want)
    older = config.replace(checkpoint=os.path.join(workdir, "checkpoints", "ckpt-2"))
    assert int(Workdir(workdir).restore(older).step.numpy()) == 2  # config.checkpoint


@pytest.mark.slow  # run.py in a subprocess
@pytest.mark.parametrize("mode", ["sample", "evaluate", "export"])
def test_a_missing_checkpoint_is_one_line_not_the_newest(saved, mode):
    workdir, _, _ = saved
    missing = os.path.join(workdir, "checkpoints", "ckpt-99")
    before = sorted(os.listdir(workdir))
    result = subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), f"--mode={mode}",
                             f"--workdir={workdir}", f"--checkpoint={missing}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith(f"error: --checkpoint={missing}: no such checkpoint"), last
    assert sorted(os.listdir(workdir)) == before  # nothing sampled or evaluated from another one


def _session_start(logdir: str):
    """The HParams plugin's session-start record of a logdir, read with TensorBoard's loaders."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata
    acc = EventAccumulator(logdir)
    acc.Reload()
    assert metadata.SESSION_START_INFO_TAG in acc.Tags()["tensors"]
    content = acc.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content
    return metadata.parse_session_start_info_plugin_data(content)


def test_a_training_run_records_its_hyperparameters_for_the_hparams_dashboard(tiny_runs):
    workdir, config = tiny_runs("vaegan")
    info = _session_start(os.path.join(workdir, "tensorboard"))
    assert info.group_name == os.path.basename(workdir)  # the trial is named after its workdir
    recorded = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                for k, v in info.hparams.items()}
    expected = hyperparameters(config)
    assert set(recorded) == set(expected)
    assert {"gamma", "model", "train_steps", "dis_passes"} <= set(recorded)
    assert not {"data_dir", "log_every", "checkpoint"} & set(recorded)
    for key, value in expected.items():
        assert recorded[key] == (value if isinstance(value, (bool, str)) else float(value)), key
    assert json.loads(open(Workdir(workdir).config_file).read())["model"] == "vaegan"
