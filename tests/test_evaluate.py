"""--mode=evaluate on tiny trained runs: every key, files written, and clear errors."""

import json
import os
import shutil

import numpy as np
import pytest
from conftest import offline_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vaegan_tf.config import Config
from vaegan_tf.data import labelled
from vaegan_tf.errors import CheckpointError, DataError
from vaegan_tf.evaluation import evaluate
from vaegan_tf import run_record
from vaegan_tf.workdir import Workdir


def test_evaluate_writes_a_line_with_every_key(tmp_path, tiny_runs):
    source, config = tiny_runs("vaegan")
    workdir = str(tmp_path / "run")
    shutil.copytree(source, workdir)
    record = evaluate.evaluate(config, workdir)
    lines = open(os.path.join(workdir, "metrics.jsonl")).read().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["step"] == 2 and line["model"] == "vaegan" and line["images"] > 1
    for key in evaluate.METRIC_KEYS:
        assert key in line, key
        if key != "fid":  # no --inception_weights
            assert np.isfinite(line[key]), key
    assert line["fid"] is None
    assert set(line["knn_per_attribute"]) == set(json.load(open(
        os.path.join(workdir, "classifier", "classifier.json")))["attributes"])
    assert 0 <= line["knn_dis_error"] <= 1 and 0 <= line["knn_pixel_error"] <= 1
    assert record["pixel_mse"] == line["pixel_mse"]

    acc = EventAccumulator(os.path.join(workdir, "tensorboard", "evaluate"))
    acc.Reload()
    assert {"pixel_mse", "fd_attr_samples", "kid_attr_recon", "knn_dis_error"} <= set(acc.Tags()["tensors"])
    assert "pixel_mse" in evaluate.format_table(record)

    # A second evaluation reuses the cached classifier and appends a second line.
    mtime = os.path.getmtime(os.path.join(workdir, "classifier", "classifier.weights.h5"))
    evaluate.evaluate(config, workdir)
    assert len(open(os.path.join(workdir, "metrics.jsonl")).read().splitlines()) == 2
    assert os.path.getmtime(os.path.join(workdir, "classifier", "classifier.weights.h5")) == mtime
    # A classifier cached for other settings is refused, naming the difference.
    with pytest.raises(CheckpointError, match="steps"):
        evaluate.evaluate(config.replace(classifier_steps=3), workdir)


@pytest.mark.slow  # trains the vae tiny run
def test_vae_has_no_discriminator_metrics(tmp_path, tiny_runs):
    workdir, config = tiny_runs("vae")
    config = config.replace(classifier_dir=str(tmp_path / "clf"))
    record = evaluate.evaluate(config, workdir)
    assert record["disl_mse"] is None and record["knn_dis_error"] is None
    assert np.isfinite(record["pixel_mse"]) and np.isfinite(record["knn_pixel_error"])


def test_no_checkpoint_is_a_clear_error(tmp_path, tiny_data_dir):
    config = offline_config(data_dir=tiny_data_dir)
    with pytest.raises(CheckpointError, match="no trained run"):
        run_record.offline_config(Workdir(str(tmp_path)), config)
    (tmp_path / "config.json").write_text(config.to_json())
    with pytest.raises(CheckpointError, match="no checkpoint"):
        evaluate.evaluate(config, str(tmp_path))


def test_missing_inception_weights_stop_evaluate_before_any_work(tmp_path):
    missing = str(tmp_path / "missing.h5")
    Config(inception_weights=missing)  # a value, not a file check: a recorded run stays readable
    with pytest.raises(DataError, match=f"--inception_weights={missing}: no such file"):
        evaluate.evaluate(offline_config(inception_weights=missing), str(tmp_path / "no_run"))


def test_knn_dataset_missing_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="cifar10.*cannot be downloaded"):
        labelled.tfds_labelled("cifar10", str(tmp_path), "train", 32, 4)
    with pytest.raises(DataError, match="not a TFDS dataset"):
        labelled.tfds_labelled("no_such_dataset_xyz", str(tmp_path), "train", 32, 4)


def test_knn_dataset_reads_a_tfds_dataset(tmp_path):
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=12):
        images, labels = labelled.tfds_labelled("cifar10", str(tmp_path), "test", 16, 10)
    assert images.shape == (10, 16, 16, 3) and labels.shape == (10,)
    assert images.min() >= -1 and images.max() <= 1 and labels.max() < 10


@pytest.mark.slow  # a second evaluation with a classifier of its own
def test_evaluate_with_knn_dataset_uses_its_labels(tmp_path, tiny_runs):
    import tensorflow_datasets as tfds
    source, config = tiny_runs("vaegan")
    workdir = str(tmp_path / "run")
    shutil.copytree(source, workdir)
    with tfds.testing.mock_data(num_examples=20):
        record = evaluate.evaluate(config.replace(knn_dataset="cifar10",
                                                  knn_data_dir=str(tmp_path / "tfds")), workdir)
    assert record["knn_labels"] == "cifar10:label" and "knn_per_attribute" not in record
    assert 0 <= record["knn_dis_error"] <= 1 and 0 <= record["knn_pixel_error"] <= 1


@pytest.mark.slow  # run.py in a subprocess
def test_cli_without_a_run_is_one_clear_line(tmp_path):
    # attributes and sample read the run through the same run_record.offline_config.
    from test_run import _assert_clean_failure, _run
    result = _run("--mode=evaluate", f"--workdir={tmp_path}")
    _assert_clean_failure(result, "no trained run", str(tmp_path))
