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

from vaegan_tf.config import flat_values
from vaegan_tf.errors import ConfigError
from vaegan_tf.evaluation import table2, table2_report
from vaegan_tf.training.train import train_mode

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


def test_shuffled_is_a_seeded_derangement():
    for n in (2, 3, 7, 400):
        perm = table2.shuffled(n, seed=5)
        assert sorted(perm) == list(range(n)) and np.all(perm != np.arange(n))
        np.testing.assert_array_equal(perm, table2.shuffled(n, seed=5))
    assert not np.array_equal(table2.shuffled(400, 1), table2.shuffled(400, 2))


def test_attribute_accuracy_matches_explicit_loops():
    rng = np.random.default_rng(2)
    predicted, target = rng.normal(size=(5, 3, 4)), rng.choice([-1.0, 1.0], size=(5, 4))
    expected = [np.mean([(predicted[n, k, a] > 0) == (target[n, a] > 0)
                         for n in range(5) for k in range(3)]) for a in range(4)]
    np.testing.assert_allclose(table2.attribute_accuracy(predicted, target), expected)
    np.testing.assert_allclose(table2.attribute_accuracy(-predicted, target),
                                  1.0 - np.asarray(expected))


def _planted_record(decoder=_planted_decoder, seeds=(3, 4)):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (40, A)).astype(np.float32)
    real = np.concatenate([y, np.zeros((40, L), np.float32)], axis=1)
    record = table2.protocol(decoder, _planted_regressor, real, y, signed=True, latent_dim=L,
                             seeds=list(seeds), batch_size=16, samples=10)
    return record, y


def test_control_scores_faces_drawn_for_other_rows_vectors_against_the_asked_ones():
    """The planted decoder draws exactly its y, so the row is near perfect and its control scores
    what the vectors of other rows score against the asked ones, computed here directly."""
    record, y = _planted_record()
    target = 2.0 * y - 1.0
    cosines, accuracies = [], []
    for seed in (3, 4):
        z = np.random.default_rng(seed).standard_normal((40 * 10, L)).astype(np.float32)
        drawn = 2.0 * np.repeat(y[table2.shuffled(40, seed)], 10, 0) - 1.0
        predicted = (drawn + NOISE * z[:, :A]).reshape(40, 10, A)
        cosines.append(np.mean([max(_cos(predicted[n, k], target[n]) for k in range(10))
                                for n in range(40)]))
        accuracies.append(np.mean((predicted > 0) == (target[:, None] > 0), axis=(0, 1)))
    assert record["control_cosine"] == pytest.approx(np.mean(cosines), rel=1e-6)
    np.testing.assert_allclose(record["control_accuracy_per_attribute"], np.mean(accuracies, 0))
    assert record["control_accuracy"] == pytest.approx(np.mean(accuracies))
    # A model that draws y beats its control; the real images agree with their own vectors.
    assert record["accuracy"] > 0.8 > record["control_accuracy"]
    assert record["cosine"] > record["control_cosine"] + 0.2
    assert record["test_set_accuracy"] == 1.0 and record["test_set_cosine_mean"] == pytest.approx(1.0)
    # A decoder that ignores y scores the same with and without the shuffle.
    blind, _ = _planted_record(lambda z, attributes, training: _planted_decoder(
        z, tf.zeros_like(attributes), training))
    for key in ("cosine", "mse", "cosine_mean", "accuracy"):
        assert blind[key] == pytest.approx(blind[f"control_{key}"]), key


def test_tables_show_the_rows_the_control_and_the_papers_lfw_numbers():
    record, _ = _planted_record()
    record.update(model="vaegan", step=400, dataset="synthetic", attributes=A,
                  attribute_names=["Hat", "Glasses", "Smile"])
    text = table2_report.format_table(record)
    lines = text.splitlines()
    assert "conditional vaegan at step 400 on synthetic (3 attributes): 40 test vectors × 10 " \
           "samples, 2 run(s), seeds 3–4" in lines[0]
    assert lines[2].split()[:6] == ["test", "set", "(real", "images,", "1", "per"]
    assert lines[2].split()[-4:] == ["1.0000", "0.00", "1.0000", "1.000"]
    row = f"{record['cosine']:.4f} ± {record['cosine_std']:.4f}"
    assert lines[3].split()[0] == "vaegan" and row in lines[3]
    control = f"{record['control_cosine']:.4f} ± {record['control_cosine_std']:.4f}"
    assert lines[4].startswith("  vaegan, y shuffled") and control in lines[4]
    hat = record["accuracy_per_attribute"][0]
    assert f"Hat {hat:.2f} (real 1.00, shuffled " in text
    assert "VAE/GAN                                 0.9114                22.39 ± 1.16" in text
    md = table2_report.markdown_table(record)
    assert f"| vaegan | synthetic | {row} |" in md
    assert f"| vaegan, y shuffled | synthetic | {control} |" in md
    assert "| paper: GAN | LFW | 0.8892 | 27.89 ± 3.07 | — | — |" in md


def test_over_runs_gives_mean_and_std_over_training_runs():
    records = []
    for seed, (cos, acc) in enumerate(((0.8, 0.9), (0.6, 0.7), (0.7, 0.8))):
        record, _ = _planted_record()
        record.update(model="vae", seed=seed, cosine=cos, accuracy=acc,
                      accuracy_per_attribute=[acc] * A, attribute_names=["a", "b", "c"])
        records.append(record)
    gan, _ = _planted_record()
    gan.update(model="gan", seed=0, attribute_names=["a", "b", "c"])
    rows = table2_report.over_runs(records + [gan])
    assert rows["vae"]["runs"] == 3 and rows["vae"]["seeds"] == [0, 1, 2]
    assert rows["vae"]["cosine"] == pytest.approx((0.7, np.std([0.8, 0.6, 0.7])))
    assert rows["vae"]["accuracy"][0] == pytest.approx(0.8)
    assert rows["gan"]["runs"] == 1 and rows["gan"]["cosine"][1] == 0.0
    md = table2_report.markdown_over_runs(records + [gan])
    lines = md.splitlines()
    assert lines[3].startswith("| vae | 3 (seeds 0,1,2) | 0.7000 ± 0.0816 |")
    assert lines[4].startswith("| vae, y shuffled | 3 |") and lines[5].startswith("| gan | 1 ")
    per = table2_report.markdown_per_attribute(records + [gan])
    assert per.splitlines()[2].startswith("| a | 1.000 | 0.800 |")


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory, tiny_data_dir):
    """A 2-step conditional gan on the tiny synthetic data: (workdir, config)."""
    workdir = str(tmp_path_factory.mktemp("table2_run"))
    config = offline_config(model="gan", conditional=True, train_steps=2, data_dir=tiny_data_dir,
                            regressor_steps=2, runs=2)
    train_mode(config, workdir, verbose=0)
    with open(os.path.join(workdir, "config.json")) as f:
        return workdir, config.replace(**{k: v for k, v in flat_values(json.load(f)).items()
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
    assert "| gan, y shuffled | synthetic |" in text
    assert {"table2/control_cosine", "table2/accuracy", "table2/test_set_accuracy",
            "table2/accuracy/Wearing_Hat", "table2/control_accuracy/Smiling"} <= set(
        events.Tags()["tensors"])
    assert record["attribute_names"][-1] == "Wearing_Hat"
    assert len(record["accuracy_per_attribute"]) == len(record["control_accuracy_per_attribute"]) == 11
    cosine = tf.make_ndarray(events.Tensors("table2/cosine")[-1].tensor_proto)
    assert float(cosine) == pytest.approx(record["cosine"], rel=1e-6)
    # The same seeds give the same numbers (the regressor now comes from its cache).
    again = table2.evaluate_table2(config, workdir)
    assert again["cosine_runs"] == record["cosine_runs"] and again["mse_runs"] == record["mse_runs"]
    assert again["control_cosine_runs"] == record["control_cosine_runs"]


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
    assert "paper, on LFW" in result.stdout and "gan, y shuffled" in result.stdout
    assert "per-attribute accuracy of the samples: Bangs " in result.stdout
    result = subprocess.run(
        [sys.executable, "run.py", "--mode=evaluate", f"--workdir={workdir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: --protocol=metrics draws unconditional samples" in result.stderr
