"""--mode=evaluate --protocol=table2: the paper's Table 2 protocol for conditional runs (Sec 4.2).

For every attribute vector y of the test split (at most --eval_images of them, in file order),
SAMPLES_PER_VECTOR faces Dec(z, y), z ~ N(0, I), are generated. The attribute regressor
(regressor.py: Enc's architecture trained on the training split) predicts each face's attributes
ŷ, and against the target t = regressor.targets(y) the paper's two numbers are reported:
  cosine   best_of_cosine: per vector the best cosine similarity of its samples, averaged
  mse      mse: squared error summed over attributes, averaged over every generated face
Beside them, so that the numbers say whether a model draws y at all:
  cosine_mean   the cosine of every face, averaged (a best-of-1): comparable with the test set's
  accuracy      attribute_accuracy: how often sign(ŷ_a) is the asked attribute's, per attribute
  control_*     the same for faces drawn with the same z for another row's vector (a derangement
                of the test vectors, `shuffled`) and scored against the asked one: what the model
                scores without drawing y
The whole is repeated over --runs seeds (--sample_seed, +1, ...) for mean ± std. The "test set"
row applies the regressor to the real test images themselves: one image per vector, so its
cosine is a best-of-1 (compare it with cosine_mean); mse and accuracy average over faces anyway.

The paper's Table 2 is on LFW's 73 real-valued attributes; a table on other data (CelebA's 40 or
the synthetic data's 11 binary attributes, compared as ±1) is not comparable to its numbers.
table2_report.py formats the records and aggregates them over training runs.
"""

from __future__ import annotations

import datetime
import os

import numpy as np
import tensorflow as tf

from vaegan_tf import data, tensorboard_logs
from vaegan_tf.config import Config
from vaegan_tf.errors import ConfigError
from vaegan_tf.evaluation import inference, regressor, table2_report
from vaegan_tf.evaluation.inference import batched
from vaegan_tf.files import append_jsonl
from vaegan_tf.workdir import Workdir

SAMPLES_PER_VECTOR = 10  # the paper's "best of 10"
# The record's numbers that go to TensorBoard as scalars (per-attribute accuracies go too).
SCALARS = tuple(f"{p}{k}" for p in ("", "control_") for k in (
    "cosine", "cosine_std", "mse", "mse_std", "cosine_mean", "accuracy")) + tuple(
    f"test_set_{k}" for k in ("cosine", "mse", "accuracy"))
EPSILON = 1e-12  # keeps the cosine of an all-zero vector finite (it is then 0)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(a, b) = a·b / max(‖a‖ ‖b‖, ε) along the last axis (broadcasting the others)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return np.sum(a * b, axis=-1) / np.maximum(norms, EPSILON)


def best_of_cosine(predicted: np.ndarray, target: np.ndarray) -> float:
    """Table 2's cosine similarity: (1/N) Σ_n max_k cos(ŷ_nk, t_n).

    predicted [N, K, A]: the regressor's attributes of K samples generated for each of N target
    vectors t [N, A]; the best of the K samples counts for each vector.
    """
    predicted, target = _checked(predicted, target)
    return float(np.mean(np.max(cosine_similarity(predicted, target[:, None, :]), axis=1)))


def mse(predicted: np.ndarray, target: np.ndarray) -> float:
    """Table 2's mean squared error: (1/(N·K)) Σ_n Σ_k Σ_a (ŷ_nka − t_na)².

    Summed over the A attributes (the paper's magnitudes, 14–28 on LFW's 73 scores, are per
    vector, not per attribute) and averaged over all N·K generated faces, not only the best.
    """
    predicted, target = _checked(predicted, target)
    return float(np.mean(np.sum((predicted - target[:, None, :]) ** 2, axis=-1)))


def mean_cosine(predicted: np.ndarray, target: np.ndarray) -> float:
    """The cosine of every generated face with its target, averaged: (1/(N·K)) Σ_n Σ_k cos(ŷ_nk, t_n)."""
    predicted, target = _checked(predicted, target)
    return float(np.mean(cosine_similarity(predicted, target[:, None, :])))


def attribute_accuracy(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[A]: per attribute a, the fraction of the N·K faces with (ŷ_nka > 0) = (t_na > 0), i.e.
    the regressor finds the attribute exactly where it was asked for (present: t > 0)."""
    predicted, target = _checked(predicted, target)
    return np.mean((predicted > 0) == (target[:, None, :] > 0), axis=(0, 1))


def shuffled(n: int, seed: int) -> np.ndarray:
    """A derangement of range(n) (no row keeps its own index, for n > 1): the control draws row
    i's faces for vector perm[i]. Each element of a random order maps to the one before it."""
    order = np.random.default_rng(seed).permutation(n)
    perm = np.empty(n, np.int64)
    perm[order] = np.roll(order, 1)
    return perm


def scores(predicted: np.ndarray, target: np.ndarray) -> dict:
    """Every number of one set of faces against its targets."""
    return {"cosine": best_of_cosine(predicted, target), "mse": mse(predicted, target),
            "cosine_mean": mean_cosine(predicted, target),
            "accuracy_per_attribute": attribute_accuracy(predicted, target)}


def _checked(predicted, target) -> tuple[np.ndarray, np.ndarray]:
    predicted, target = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    if predicted.ndim != 3 or target.ndim != 2 or predicted.shape[::2] != target.shape:
        raise ValueError(f"expected predicted [N, K, A] and target [N, A], got "
                         f"{predicted.shape} and {target.shape}")
    return predicted, target


def mean_std(values) -> tuple[float, float]:
    """Mean and population standard deviation over runs (std 0 for a single run)."""
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std())


def generated_attributes(decoder, regress, attributes: np.ndarray, latent_dim: int,
                         samples: int, seed: int, batch_size: int) -> np.ndarray:
    """ŷ [N, samples, A]: `regress` applied to Dec(z, y) for `samples` draws z ~ N(0, I) per
    vector y of attributes [N, A] (the draws of seed), in batches so no image set is kept."""
    n = len(attributes)
    z = np.random.default_rng(seed).standard_normal((n * samples, latent_dim)).astype(np.float32)
    y = np.repeat(np.asarray(attributes, np.float32), samples, axis=0)
    out = batched(lambda z, y: regress(decoder(z, attributes=y, training=False)), z, batch_size, y)
    return out.reshape(n, samples, -1)


def protocol(decoder, regress, test_images: np.ndarray, test_attributes: np.ndarray,
             signed: bool, latent_dim: int, seeds: list[int], batch_size: int,
             samples: int = SAMPLES_PER_VECTOR) -> dict:
    """The numbers of one Table 2 row, its shuffled control and its test-set row, for any decoder
    and regressor.

    decoder(z, attributes=y, training=False) -> images; regress(images) -> attributes in the
    scale of regressor.targets. Each seed draws the z of both the row and its control, and the
    control's derangement. Returns per-run values and their mean ± std.
    """
    asked = np.asarray(test_attributes, np.float64)
    target = regressor.targets(asked, signed)
    runs: dict[str, list] = {}
    for seed in seeds:
        for prefix, vectors in (("", asked), ("control_", asked[shuffled(len(asked), seed)])):
            predicted = generated_attributes(decoder, regress, vectors, latent_dim, samples, seed,
                                             batch_size)
            for key, value in scores(predicted, target).items():
                runs.setdefault(prefix + key, []).append(value)
    record: dict = {}
    for key, values in runs.items():
        if key.endswith("accuracy_per_attribute"):
            record[key] = np.mean(values, axis=0).tolist()
            record[key.replace("_per_attribute", "")] = float(np.mean(values))
            continue
        record[key], record[f"{key}_std"] = mean_std(values)
        record[f"{key}_runs"] = list(map(float, values))
    real = scores(batched(regress, test_images, batch_size)[:, None, :], target)
    real["accuracy"] = float(np.mean(real["accuracy_per_attribute"]))
    real["accuracy_per_attribute"] = real["accuracy_per_attribute"].tolist()
    record.update({f"test_set_{k}": v for k, v in real.items()})
    record.update(seeds=list(seeds), vectors=len(target), samples_per_vector=samples)
    return record


def evaluate_table2(config: Config, workdir: str | Workdir) -> dict:
    """Runs the protocol on a conditional run's newest checkpoint; appends the record to
    metrics.jsonl, writes it to TensorBoard (`tensorboard/evaluate`: scalars under `table2/` and
    the table as text) and returns it."""
    run = Workdir.of(workdir)
    if not config.conditional:
        raise ConfigError(f"--protocol=table2 needs a conditional run; {run.path} was trained "
                          "without --conditional")
    model, step = inference.restored(config, run)
    index = data.load_index(config)
    test_x, test_y = inference.split_images(config, "test", config.eval_images, index)
    reg, info = regressor.load_or_train(config, run, index)
    bs = config.batch_size
    record = protocol(model.decoder, lambda images: reg(images, training=False), test_x, test_y,
                      regressor.signed_targets(config), config.latent_dim,
                      [config.sample_seed + r for r in range(config.runs)], bs)
    record.update(protocol="table2", step=step, model=config.model, dataset=config.dataset,
                  attributes=len(index.attribute_names), runs=config.runs,
                  attribute_names=list(index.attribute_names), seed=config.seed,
                  targets=info.get("targets"), regressor_steps=info.get("steps"),
                  workdir=os.path.abspath(run.path),
                  time=datetime.datetime.now().isoformat(timespec="seconds"))
    append_jsonl(run.metrics, record)
    writer = tensorboard_logs.summary_writer(run, "evaluate")
    with writer.as_default(step=step):
        for key in SCALARS:
            tf.summary.scalar(f"table2/{key}", record[key])
        for prefix in ("", "control_", "test_set_"):
            for name, value in zip(record["attribute_names"],
                                   record[f"{prefix}accuracy_per_attribute"]):
                tf.summary.scalar(f"table2/{prefix}accuracy/{name}", value)
        tf.summary.text("table2", table2_report.markdown_table(record))
    writer.flush()
    return record
