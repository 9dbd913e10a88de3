"""The run record (vaegan_tf/run_record.py): config.json written, read back, checked on resume and
merged with an offline mode's flags."""

import os

import pytest
from conftest import tiny_config

from vaegan_tf import run_record
from vaegan_tf.config import Config
from vaegan_tf.errors import CheckpointError
from vaegan_tf.workdir import Workdir


def test_defaults_go_under_the_run_and_given_folders_stay(tmp_path):
    run = Workdir(str(tmp_path))
    config = run_record.with_defaults(Config(dataset="synthetic", cache="file"), run)
    assert (config.data_dir, config.cache_dir) == (run.data, run.cache)
    given = Config(dataset="celeba", data_dir="/d", cache="file", cache_dir="/c")
    assert run_record.with_defaults(given, run) == given
    assert run_record.with_defaults(Config(cache="memory", data_dir="/d"), run).cache_dir == ""


def test_config_round_trip_leaves_no_temporary(tmp_path):
    run = Workdir(str(tmp_path / "run"))
    assert run_record.recorded(run) is None
    config = tiny_config(gamma=0.25)
    run_record.write(run, config)
    assert run_record.load(run) == config
    assert os.listdir(run.path) == ["config.json"]


def test_resume_refuses_a_model_field_and_allows_a_safe_one(tmp_path):
    run = Workdir(str(tmp_path))
    run_record.write(run, tiny_config())
    run_record.check_resumable(run, tiny_config(train_steps=99, data_dir="/elsewhere"))  # resume-safe
    with pytest.raises(CheckpointError, match=r"--latent_dim=9 differs from 8 recorded in"):
        run_record.check_resumable(run, tiny_config(latent_dim=9))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read .*config.json"):
        run_record.check_resumable(run, tiny_config())


def test_require_run_names_what_is_missing(tmp_path):
    with pytest.raises(CheckpointError, match=r"--workdir=\S*nowhere does not exist"):
        run_record.load(Workdir(str(tmp_path / "nowhere")))
    with pytest.raises(CheckpointError, match="holds no trained run"):
        run_record.load(Workdir(str(tmp_path)))


def test_offline_config_takes_offline_fields_and_ignores_model_flags(tmp_path):
    recorded = tiny_config(model="vae", data_dir="/data")
    run_record.write(Workdir(str(tmp_path)), recorded)
    flags = Config(eval_images=7, classifier_dir="/x", data_dir="/elsewhere")  # model=vaegan
    config = run_record.offline_config(Workdir(str(tmp_path)), flags, explicit={"model", "eval_images"})
    assert (config.model, config.eval_images, config.classifier_dir) == ("vae", 7, "/x")
    assert config.data_dir == "/data"  # not given explicitly
    assert run_record.offline_config(Workdir(str(tmp_path)), flags, {"data_dir"}).data_dir == "/elsewhere"


def test_a_run_recorded_before_the_groups_resumes_and_serves_offline_modes(tmp_path):
    # config.json as runs wrote it before the settings were grouped: every field flat, the
    # offline ones included.
    import json
    old = tiny_config(model="vae", sample_seed=5)
    run = Workdir(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(old.to_dict()))
    run_record.check_resumable(run, tiny_config(model="vae", train_steps=99))
    with pytest.raises(CheckpointError, match=r"--latent_dim=9 differs from 8 recorded in"):
        run_record.check_resumable(run, tiny_config(model="vae", latent_dim=9))
    config = run_record.offline_config(run, Config(eval_images=7))
    assert (config.model, config.eval_images, config.sample_seed) == ("vae", 7, 0)
    run_record.write(run, config)  # rewritten in groups, without the offline values
    assert "sample_seed" not in (tmp_path / "config.json").read_text()
    assert run_record.load(run) == config.replace(eval_images=Config().eval_images)
