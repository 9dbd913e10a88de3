"""--mode=evaluate: the paper's claims as numbers, on the test split of a trained run.

Every metric is computed on at most `eval_images` test images (and as many prior samples):
  pixel_mse            mean over pixels of (x − Dec(μ(x)))², images in [-1, 1]
  disl_mse             mean over Dis_l units of (Dis_l(x) − Dis_l(Dec(μ(x))))² (models with a Dis)
  sharpness_samples    laplacian-variance ratio of prior samples to real test images (1 = as sharp)
  sharpness_recon      the same for reconstructions Dec(μ(x))
  fd_attr_*, kid_attr_*  Fréchet distance and unbiased KID between real test images and
                       samples / reconstructions, in the
                       penultimate features of the project's attribute classifier — NOT Inception,
                       so never comparable to published FIDs. `*_real` compares real training
                       images with real test images: the floor set by finite samples.
  knn_*_error          5-NN classification error (paper Sec. 4) with Dis_l features vs raw pixels;
                       training-split images are the neighbours, test images are classified. On our
                       attributes: every attribute is its own binary task and the errors are
                       averaged (per attribute in `knn_per_attribute`); `knn_chance_error` always
                       predicts the training majority. With --knn_dataset: that TFDS dataset's label.
  fid                  real FID (InceptionV3 pool features) only with --inception_weights=FILE.
"""

from __future__ import annotations

import datetime
import os

import numpy as np
import tensorflow as tf
from absl import logging

from vaegan_tf import data, tensorboard_logs
from vaegan_tf.config import Config
from vaegan_tf.data import labelled
from vaegan_tf.errors import ConfigError
from vaegan_tf.evaluation import (classifier, inception, inference, knn, metrics, table2,
                                  table2_report)
from vaegan_tf.files import append_jsonl
from vaegan_tf.workdir import Workdir

K = 5  # the paper's k for kNN
METRIC_KEYS = (
    "pixel_mse", "disl_mse", "sharpness_samples", "sharpness_recon",
    "fd_attr_samples", "fd_attr_recon", "fd_attr_real",
    "kid_attr_samples", "kid_attr_recon", "kid_attr_real",
    "knn_dis_error", "knn_pixel_error", "knn_chance_error", "classifier_accuracy", "fid",
)


def _dis_features(model, images: np.ndarray, batch_size: int) -> np.ndarray:
    feats = inference.batched(lambda x: model.discriminator(x, training=False)[1], images, batch_size)
    return feats.reshape(len(feats), -1)


def _knn(config: Config, model, train, test, names) -> dict:
    out: dict = {}
    if config.knn_dataset:
        tr_x, tr_y = labelled.tfds_labelled(config.knn_dataset, config.knn_data_dir, "train",
                                   config.image_size, config.eval_images)
        te_x, te_y = labelled.tfds_labelled(config.knn_dataset, config.knn_data_dir, "test",
                                   config.image_size, config.eval_images)
        out["knn_labels"] = f"{config.knn_dataset}:label"
        out["knn_pixel_error"] = knn.knn_error(tr_x.reshape(len(tr_x), -1), tr_y,
                                                   te_x.reshape(len(te_x), -1), te_y, K)
        counts = np.bincount(tr_y)
        out["knn_chance_error"] = float(np.mean(te_y != np.argmax(counts)))
        if model.discriminator is not None:
            out["knn_dis_error"] = knn.knn_error(
                _dis_features(model, tr_x, config.batch_size), tr_y,
                _dis_features(model, te_x, config.batch_size), te_y, K)
        return out
    (tr_x, tr_y), (te_x, te_y) = train, test
    out["knn_labels"] = f"attributes (mean of {len(names)} binary tasks)"
    pixel = knn.knn_attribute_errors(tr_x.reshape(len(tr_x), -1), tr_y,
                                         te_x.reshape(len(te_x), -1), te_y, K)
    chance = knn.majority_error(tr_y, te_y)
    per = {n: {"pixel": float(p), "chance": float(c)} for n, p, c in zip(names, pixel, chance)}
    out["knn_pixel_error"], out["knn_chance_error"] = float(pixel.mean()), float(chance.mean())
    if model.discriminator is not None:
        dis = knn.knn_attribute_errors(_dis_features(model, tr_x, config.batch_size), tr_y,
                                           _dis_features(model, te_x, config.batch_size), te_y, K)
        out["knn_dis_error"] = float(dis.mean())
        for n, d in zip(names, dis):
            per[n]["dis"] = float(d)
    out["knn_per_attribute"] = per
    return out


def evaluate(config: Config, workdir: str | Workdir) -> dict:
    """Computes every metric, appends them as one line to metrics.jsonl, logs them to TensorBoard
    (`tensorboard/evaluate`) and returns the record. Keys that do not apply to the model (e.g.
    disl_mse without a Dis, pixel_mse for a gan) are null."""
    run = Workdir.of(workdir)
    if config.inception_weights:
        inception.check_weights(config.inception_weights)  # before hours of work, not after
    model, step = inference.restored(config, run)
    index = data.load_index(config)
    bs, n = config.batch_size, config.eval_images
    test_x, test_y = inference.split_images(config, "test", n, index)
    train_x, train_y = inference.split_images(config, "train", n, index)
    test_y, train_y = data.present(config, test_y), data.present(config, train_y)  # LFW: scores
    labelled = bool(index.attribute_names)  # a folder without --attributes_csv has none
    if labelled:
        clf, info = classifier.load_or_train(config, run, index, test=(test_x, test_y))
    else:
        clf, info = None, {}
        logging.info("No attributes (--dataset=folder without --attributes_csv): the attribute "
                     "classifier's metrics (fd_attr_*, kid_attr_*) and the attribute kNN are left "
                     "out")

    rng = np.random.default_rng(config.sample_seed)
    z = rng.standard_normal((len(test_x), config.latent_dim)).astype(np.float32)
    samples = inference.decode(model, z, bs)
    recon = None
    if model.encoder is not None:
        recon = inference.decode(model, inference.encode(model, test_x, bs), bs)

    record: dict = {k: None for k in METRIC_KEYS}
    record.update(step=step, model=config.model, workdir=os.path.abspath(run.path),
                  time=datetime.datetime.now().isoformat(timespec="seconds"),
                  images=len(test_x), classifier_accuracy=info.get("test_accuracy_mean"))
    record["sharpness_samples"] = metrics.sharpness_ratio(samples, test_x)
    compared = {"samples": samples, "real": train_x[:len(test_x)]}
    if recon is not None:
        record["pixel_mse"] = float(np.mean((test_x - recon) ** 2))
        record["sharpness_recon"] = metrics.sharpness_ratio(recon, test_x)
        compared["recon"] = recon
        if model.discriminator is not None:
            record["disl_mse"] = float(np.mean(
                (_dis_features(model, test_x, bs) - _dis_features(model, recon, bs)) ** 2))
    if clf is not None:
        real_f = classifier.predict_features(clf, test_x, bs)
        for name, images in compared.items():
            features = classifier.predict_features(clf, images, bs)
            record[f"fd_attr_{name}"] = metrics.frechet_distance(features, real_f)
            record[f"kid_attr_{name}"] = metrics.kid(features, real_f)[0]
    if labelled or config.knn_dataset:
        record.update(_knn(config, model, (train_x, train_y), (test_x, test_y),
                           index.attribute_names))
    if config.inception_weights:
        record["fid"] = inception.inception_fid(config.inception_weights, test_x, samples, bs)

    append_jsonl(run.metrics, record)
    tensorboard_logs.write_hparams(run, config)  # also for a run trained before HParams existed
    writer = tensorboard_logs.summary_writer(run, "evaluate")
    with writer.as_default(step=step):
        for key in METRIC_KEYS:
            if record[key] is not None:
                tf.summary.scalar(key, record[key])
    writer.flush()
    return record


def evaluate_mode(config: Config, workdir: str | Workdir) -> str:
    """--mode=evaluate: `evaluate` (--protocol=metrics) or, for conditional runs, the paper's
    Table 2 protocol (--protocol=table2, table2.py); returns the table to print."""
    run = Workdir.of(workdir)
    if config.protocol == "table2":
        return table2_report.format_table(table2.evaluate_table2(config, run))
    if config.conditional:
        raise ConfigError(f"--protocol=metrics draws unconditional samples; {run.path} holds a "
                          "conditional run: use --protocol=table2")
    return format_table(evaluate(config, run))


def format_table(record: dict) -> str:
    """The metrics as aligned `name  value` lines, '-' where a metric does not apply."""
    lines = [f"{record['model']} at step {record['step']} on {record['images']} test images"]
    for key in METRIC_KEYS:
        value = record.get(key)
        lines.append(f"  {key:<20} {'-' if value is None else f'{value:.4g}'}")
    if "knn_labels" in record:
        lines.append(f"  kNN labels: {record['knn_labels']}")
    return "\n".join(lines)
