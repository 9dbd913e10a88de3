"""The Table 2 protocol: metric formulas by explicit loops, the protocol with a planted decoder and
regressor whose answers are known, and --mode=evaluate --protocol=table2 on a tiny run."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import offline_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vaegan_tf.errors import ConfigError
from vaegan_tf.evaluation import table2
from vaegan_tf.training.train import train_and_evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cos(a, b) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_best_of_cosine_and_mse_match_explicit_loops():
    rng = np.random.default_rng(0)
    predicted, target = rng.normal(size=(6, 4, 5)), rng.normal(size=(6, 5))
    best = [max(_cos(predicted[n, k], target[n]) for k in range(4)) for n in range(6)]
    assert table2.best_of_cosine(predicted, target) == pytest.approx(sum(best) / 6, abs=1e-12)
    squared = [sum((predicted[n, k, a] - target[n, a]) ** 2 for a in range(5))
               for n in range(6) for k in range(4)]
    assert table2.mse(predicted, target) == pytest.approx(sum(squared) / 24, abs=1e-12)
    # One perfect sample out of four makes the best-of cosine 1, whatever the others are.
    predicted[:, 2] = 3.0 * target
    assert table2.best_of_cosine(predicted, target) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"expected predicted \[N, K, A\]"):
        table2.mse(predicted[:, 0], target)


def test_cosine_of_zero_and_opposite_vectors():
    assert table2.cosine_similarity([0.0, 0.0], [1.0, 2.0]) == 0.0
    assert table2.cosine_similarity([1.0, -2.0], [-2.0, 4.0]) == pytest.approx(-1.0)
    assert table2.mean_std([1.0, 3.0]) == (2.0, 1.0)


# A planted generator and regressor: Dec(z, y) passes (y, z) through as its "image", and the
# regressor answers the target 2y - 1 plus NOISE * the first A entries of z. Real "images" carry
# z = 0, so the test-set row is exact.
A, L, NOISE = 3, 4, 0.5


def _planted_decoder(z, attributes, training):
    assert training is False
    return tf.concat([attributes, z], axis=-1)


def _planted_regressor(images):
    images = np.asarray(images)
    return 2.0 * images[:, :A] - 1.0 + NOISE * images[:, A:2 * A]


def test_protocol_with_a_planted_regressor_gives_the_known_answers():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (7, A)).astype(np.float32)
    real = np.concatenate([y, np.zeros((7, L), np.float32)], axis=1)
    record = table2.protocol(_planted_decoder, _planted_regressor, real, y, signed=True,
                             latent_dim=L, seeds=[3, 4], batch_size=5, samples=10)
    assert record["test_set_cosine"] == pytest.approx(1.0) and record["test_set_mse"] == 0.0
    target = 2.0 * y - 1.0
    cosines, errors = [], []
    for seed in (3, 4):
        # The protocol's draws: 10 codes per vector from default_rng(seed), vector by vector.
        z = np.random.default_rng(seed).standard_normal((7 * 10, L)).astype(np.float32)
        noise = NOISE * z[:, :A].reshape(7, 10, A)
        cosines.append(np.mean([max(_cos(target[n] + noise[n, k], target[n]) for k in range(10))
                                for n in range(7)]))
        errors.append(np.mean(np.sum(noise.astype(np.float64) ** 2, axis=-1)))
    np.testing.assert_allclose(record["cosine_runs"], cosines, rtol=1e-6)
    np.testing.assert_allclose(record["mse_runs"], errors, rtol=1e-5)
    assert record["cosine"] == pytest.approx(np.mean(cosines), rel=1e-6)
    assert record["cosine_std"] == pytest.approx(np.std(cosines), rel=1e-4)
    assert record["mse"] == pytest.approx(np.mean(errors), rel=1e-5)
    assert record["mse_std"] == pytest.approx(np.std(errors), rel=1e-4)
    # E ‖noise‖² = NOISE² · A: the estimate over 70 faces lands near it.
    assert record["mse"] == pytest.approx(NOISE ** 2 * A, rel=0.3)
    assert record["vectors"] == 7 and record["samples_per_vector"] == 10
    assert record["seeds"] == [3, 4]


def test_protocol_on_raw_scores_with_a_constant_regressor():
    """LFW-style real-valued targets are compared as they are; a regressor blind to the images
    answers the same vector c for every face, so every run agrees (std 0)."""
    y = np.array([[1.5, -0.5], [-2.0, 0.25], [0.3, 0.3]], np.float32)
    c = np.array([1.0, -1.0])
    record = table2.protocol(_planted_decoder, lambda images: np.tile(c, (len(images), 1)),
                             np.zeros((3, 2 + 2), np.float32), y, signed=False, latent_dim=2,
                             seeds=[0, 1, 2], batch_size=4, samples=10)
    expected_cos = np.mean([_cos(c, v) for v in y])
    expected_mse = np.mean([np.sum((c - v) ** 2) for v in y])
    for prefix in ("", "test_set_"):
        assert record[f"{prefix}cosine"] == pytest.approx(expected_cos)
        assert record[f"{prefix}mse"] == pytest.approx(expected_mse)
    assert record["cosine_std"] == pytest.approx(0.0, abs=1e-12) and record["mse_std"] == 0.0


def _record(**overrides):
    record = {"model": "vaegan", "step": 400, "dataset": "synthetic", "attributes": 11,
              "vectors": 100, "samples_per_vector": 10, "seeds": [0, 1, 2], "cosine": 0.81234,
              "cosine_std": 0.00123, "mse": 5.4321, "mse_std": 0.2109, "test_set_cosine": 0.95,
              "test_set_mse": 1.25}
    record.update(overrides)
    return record


def test_tables_show_the_rows_and_the_papers_lfw_numbers():
    text = table2.format_table(_record())
    lines = text.splitlines()
    assert "conditional vaegan at step 400 on synthetic (11 attributes): 100 test vectors × 10 " \
           "samples, 3 run(s), seeds 0–2" in lines[0]
    assert lines[2].split() == ["test", "set", "(real", "images)", "0.9500", "1.25"]
    assert lines[3].split() == ["vaegan", "0.8123", "±", "0.0012", "5.43", "±", "0.21"]
    assert "VAE/GAN                 0.9114                22.39 ± 1.16" in text
    assert "test set                0.9193                14.20" in text
    md = table2.markdown_table(_record())
    assert "| vaegan | synthetic | 0.8123 ± 0.0012 | 5.43 ± 0.21 |" in md
    assert "| paper: GAN | LFW | 0.8892 | 27.89 ± 3.07 |" in md


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory, tiny_data_dir):
    """A 2-step conditional gan on the tiny synthetic data: (workdir, config)."""
    workdir = str(tmp_path_factory.mktemp("table2_run"))
    config = offline_config(model="gan", conditional=True, train_steps=2, data_dir=tiny_data_dir,
                            regressor_steps=2, runs=2)
    train_and_evaluate(config, workdir, verbose=0)
    with open(os.path.join(workdir, "config.json")) as f:
        return workdir, config.replace(**{k: v for k, v in json.load(f).items()
                                          if k == "num_attributes"})


@pytest.mark.slow  # trains a conditional run and a regressor
def test_evaluate_table2_writes_jsonl_and_tensorboard(conditional_run):
    workdir, config = conditional_run
    assert config.num_attributes == 11  # filled from the synthetic data's attribute names
    record = table2.evaluate_table2(config, workdir)
    assert record["protocol"] == "table2" and record["model"] == "gan" and record["step"] == 2
    assert record["vectors"] == 12 and record["samples_per_vector"] == 10  # the 12 test images
    assert len(record["cosine_runs"]) == 2 and record["seeds"] == [0, 1]
    assert -1.0 <= record["cosine"] <= 1.0 and record["mse"] > 0
    assert record["targets"] == "signed" and record["regressor_steps"] == 2
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        assert json.loads(f.read().splitlines()[-1]) == json.loads(json.dumps(record))
    assert os.path.isfile(os.path.join(workdir, "regressor", "regressor.weights.h5"))
    events = EventAccumulator(os.path.join(workdir, "tensorboard", "evaluate"),
                              size_guidance={"tensors": 0})
    events.Reload()
    assert {"table2", "table2/cosine", "table2/mse", "table2/test_set_mse"} <= set(
        events.Tags()["tensors"])
    text = tf.make_ndarray(events.Tensors("table2")[-1].tensor_proto).item().decode()
    assert f"| gan | synthetic | {record['cosine']:.4f} ± {record['cosine_std']:.4f}" in text
    cosine = tf.make_ndarray(events.Tensors("table2/cosine")[-1].tensor_proto)
    assert float(cosine) == pytest.approx(record["cosine"], rel=1e-6)
    # The same seeds give the same numbers (the regressor now comes from its cache).
    again = table2.evaluate_table2(config, workdir)
    assert again["cosine_runs"] == record["cosine_runs"] and again["mse_runs"] == record["mse_runs"]


def test_table2_refuses_an_unconditional_run(tmp_path, tiny_data_dir):
    with pytest.raises(ConfigError, match="--protocol=table2 needs a conditional run"):
        table2.evaluate_table2(offline_config(data_dir=tiny_data_dir), str(tmp_path))


@pytest.mark.slow  # run.py in a subprocess, twice
def test_run_py_prints_the_table(conditional_run):
    workdir, _ = conditional_run
    result = subprocess.run(
        [sys.executable, "run.py", "--mode=evaluate", "--protocol=table2", f"--workdir={workdir}",
         "--runs=1", "--regressor_steps=2", "--eval_images=8"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Table 2 protocol: conditional gan at step 2 on synthetic (11 attributes): 8 test " \
           "vectors × 10 samples, 1 run(s), seeds 0–0" in result.stdout
    assert "paper, on LFW" in result.stdout
    result = subprocess.run(
        [sys.executable, "run.py", "--mode=evaluate", f"--workdir={workdir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: --protocol=metrics draws unconditional samples" in result.stderr
