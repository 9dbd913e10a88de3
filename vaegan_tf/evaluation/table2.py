"""--mode=evaluate --protocol=table2: the paper's Table 2 protocol for conditional runs (Sec 4.2).

For every attribute vector y of the test split (at most --eval_images of them, in file order),
SAMPLES_PER_VECTOR faces Dec(z, y), z ~ N(0, I), are generated. The attribute regressor
(regressor.py: Enc's architecture trained on the training split) predicts each face's attributes
ŷ, and against the target t = regressor.targets(y) two numbers are reported:
  cosine   best_of_cosine: per vector the best cosine similarity of its samples, averaged
  mse      mse: squared error summed over attributes, averaged over every generated face
The whole is repeated over --runs seeds (--sample_seed, +1, ...) for mean ± std. The "test set"
row applies the regressor to the real test images themselves (one "sample" per vector): the
best a generator could hope for with this regressor.

The paper's Table 2 is on LFW's 73 real-valued attributes; a table on other data (CelebA's 40 or
the synthetic data's 11 binary attributes, compared as ±1) is not comparable to its numbers.
"""

from __future__ import annotations

import datetime
import os

import numpy as np
import tensorflow as tf

from vaegan_tf import data
from vaegan_tf.config import Config
from vaegan_tf.errors import ConfigError
from vaegan_tf.evaluation import inference, regressor
from vaegan_tf.evaluation.inference import batched
from vaegan_tf.files import append_jsonl
from vaegan_tf.workdir import Workdir

SAMPLES_PER_VECTOR = 10  # the paper's "best of 10"
EPSILON = 1e-12  # keeps the cosine of an all-zero vector finite (it is then 0)
# Paper, Table 2 (LFW): (cosine similarity, mean squared error, its std over runs).
PAPER_LFW = (("test set", 0.9193, 14.20, None), ("VAE", 0.9030, 27.59, 1.42),
             ("GAN", 0.8892, 27.89, 3.07), ("VAE/GAN", 0.9114, 22.39, 1.16))


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
    """The numbers of one Table 2 row and its test-set row, for any decoder and regressor.

    decoder(z, attributes=y, training=False) -> images; regress(images) -> attributes in the
    scale of regressor.targets. Returns per-run values and their mean ± std.
    """
    target = regressor.targets(np.asarray(test_attributes, np.float64), signed)
    real = batched(regress, test_images, batch_size)[:, None, :]
    cosines, errors = [], []
    for seed in seeds:
        predicted = generated_attributes(decoder, regress, test_attributes, latent_dim, samples,
                                         seed, batch_size)
        cosines.append(best_of_cosine(predicted, target))
        errors.append(mse(predicted, target))
    (cos, cos_std), (err, err_std) = mean_std(cosines), mean_std(errors)
    return {"cosine": cos, "cosine_std": cos_std, "mse": err, "mse_std": err_std,
            "cosine_runs": cosines, "mse_runs": errors, "seeds": list(seeds),
            "test_set_cosine": best_of_cosine(real, target), "test_set_mse": mse(real, target),
            "vectors": len(target), "samples_per_vector": samples}


def evaluate_table2(config: Config, workdir: str) -> dict:
    """Runs the protocol on a conditional run's newest checkpoint; appends the record to
    metrics.jsonl, writes it to TensorBoard (`tensorboard/evaluate`: scalars under `table2/` and
    the table as text) and returns it."""
    if not config.conditional:
        raise ConfigError(f"--protocol=table2 needs a conditional run; {workdir} was trained "
                          "without --conditional")
    model, step = inference.restored(config, workdir)
    index = data.load_index(config)
    test_x, test_y = inference.split_images(config, "test", config.eval_images, index)
    reg, info = regressor.load_or_train(config, workdir, index)
    bs = config.batch_size
    record = protocol(model.decoder, lambda images: reg(images, training=False), test_x, test_y,
                      regressor.signed_targets(config), config.latent_dim,
                      [config.sample_seed + r for r in range(config.runs)], bs)
    record.update(protocol="table2", step=step, model=config.model, dataset=config.dataset,
                  attributes=len(index.attribute_names), runs=config.runs,
                  targets=info.get("targets"), regressor_steps=info.get("steps"),
                  workdir=os.path.abspath(workdir),
                  time=datetime.datetime.now().isoformat(timespec="seconds"))
    append_jsonl(Workdir(workdir).metrics, record)
    writer = Workdir(workdir).summary_writer("evaluate")
    with writer.as_default(step=step):
        for key in ("cosine", "cosine_std", "mse", "mse_std", "test_set_cosine", "test_set_mse"):
            tf.summary.scalar(f"table2/{key}", record[key])
        tf.summary.text("table2", markdown_table(record))
    writer.flush()
    return record


def _row(record: dict) -> tuple[str, str]:
    return (f"{record['cosine']:.4f} ± {record['cosine_std']:.4f}",
            f"{record['mse']:.2f} ± {record['mse_std']:.2f}")


def markdown_table(record: dict) -> str:
    """The record as a Markdown table beside the paper's LFW rows, for TensorBoard's text tab."""
    cos, err = _row(record)
    lines = [f"Table 2 protocol, {_caption(record)}", "",
             "| row | data | cosine similarity | mean squared error |", "|---|---|---|---|",
             f"| test set (real images) | {record['dataset']} | {record['test_set_cosine']:.4f} "
             f"| {record['test_set_mse']:.2f} |",
             f"| {record['model']} | {record['dataset']} | {cos} | {err} |"]
    for name, c, m, s in PAPER_LFW:
        std = "" if s is None else f" ± {s:.2f}"
        lines.append(f"| paper: {name} | LFW | {c:.4f} | {m:.2f}{std} |")
    return "\n".join(lines)


def _caption(record: dict) -> str:
    return (f"conditional {record['model']} at step {record['step']} on {record['dataset']} "
            f"({record['attributes']} attributes): {record['vectors']} test vectors × "
            f"{record['samples_per_vector']} samples, {len(record['seeds'])} run(s), "
            f"seeds {record['seeds'][0]}–{record['seeds'][-1]}")


def format_table(record: dict) -> str:
    """The record as aligned text lines like the paper's Table 2, its LFW numbers below."""
    cos, err = _row(record)
    lines = [f"Table 2 protocol: {_caption(record)}",
             f"  {'':<24}{'cosine similarity':<22}mean squared error",
             f"  {'test set (real images)':<24}{record['test_set_cosine']:<22.4f}"
             f"{record['test_set_mse']:.2f}",
             f"  {record['model']:<24}{cos:<22}{err}",
             "  paper, on LFW (73 attributes; not comparable to other data):"]
    for name, c, m, s in PAPER_LFW:
        lines.append(f"  {name:<24}{c:<22.4f}{m:.2f}{'' if s is None else f' ± {s:.2f}'}")
    return "\n".join(lines)
