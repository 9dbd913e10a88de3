"""--mode=attributes: visual attribute vectors (paper Sec. 4.1.1, Fig. 6) and how well they work.

For each attribute a, v_a = mean μ(x) over training faces with a − mean μ(x) over faces without it.
Adding v_a to a face's code and decoding should turn a on. We save the vectors, picture them on test
faces (rows = faces; columns = input, reconstruction, then + each chosen attribute) and measure
their efficacy with the attribute classifier on test faces that lack the attribute:
  turned_on      fraction of those faces whose edited decoding the classifier calls positive
  baseline_on    the same fraction for their unedited reconstructions (what turned_on beats)
  others_change  mean |Δp| of the classifier's probabilities of the other attributes: how much
                 the edit drags the rest of the face along (0 = a clean edit)
"""

from __future__ import annotations

import zipfile

import numpy as np
import tensorflow as tf

from vaegan_tf import data, tensorboard_logs
from vaegan_tf.config import Config
from vaegan_tf.errors import ConfigError
from vaegan_tf.evaluation import classifier, inference
from vaegan_tf.files import atomic_path, write_json
from vaegan_tf.images import image_grid, write_png
from vaegan_tf.workdir import Workdir

GRID_FACES = 8  # rows of the Fig. 6 grid


def read_vectors(path: str) -> tuple[np.ndarray, tuple[str, ...], int]:
    """(vectors float32 [A, L], attribute names, checkpoint step) of an attribute_vectors.npz
    that attributes_mode wrote; a ValueError naming the file when it cannot be read."""
    try:
        with np.load(path) as saved:
            return (np.asarray(saved["vectors"], np.float32),
                    tuple(str(n) for n in saved["names"]), int(saved["step"]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is unreadable ({type(e).__name__}: {e})") from None


def attribute_vectors(z: np.ndarray, attributes: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """v_a = mean(z | a = 1) − mean(z | a = 0) for each column a of binary `attributes` [N, A].

    Returns (vectors [A, L], positives [A], negatives [A]); an attribute without positives or
    without negatives has no vector: its row is NaN.
    """
    z = np.asarray(z, np.float64)
    present = np.asarray(attributes) > 0.5
    pos, neg = present.sum(0), (~present).sum(0)
    vectors = np.full((present.shape[1], z.shape[1]), np.nan)
    for a in range(present.shape[1]):
        if pos[a] and neg[a]:
            vectors[a] = z[present[:, a]].mean(0) - z[~present[:, a]].mean(0)
    return vectors.astype(np.float32), pos, neg


def chosen_attributes(spec: str, names: tuple[str, ...]) -> list[int]:
    """Indices of the comma-separated names in `spec` ("" = every attribute)."""
    if not spec:
        return list(range(len(names)))
    wanted = [n.strip() for n in spec.split(",")]
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise ConfigError(f"--edit_attributes: unknown attribute(s) {', '.join(unknown)}; "
                          f"this dataset has {', '.join(names)}")
    return [names.index(n) for n in wanted]


def efficacy(decode, predict_probs, z: np.ndarray, labels: np.ndarray,
             vectors: np.ndarray) -> dict[int, dict[str, float]]:
    """turned_on / baseline_on / others_change (module docstring) for each attribute with a vector.

    decode: codes -> images; predict_probs: images -> classifier probabilities [N, A].
    """
    base = predict_probs(decode(z))
    present = labels > 0.5
    out = {}
    for a, v in enumerate(vectors):
        if np.isnan(v).any():
            continue
        probs = predict_probs(decode(z + v[None, :]))
        lacking = ~present[:, a]
        others = np.delete(np.arange(labels.shape[1]), a)
        out[a] = {
            "turned_on": float(np.mean(probs[lacking, a] > 0.5)) if lacking.any() else None,
            "baseline_on": float(np.mean(base[lacking, a] > 0.5)) if lacking.any() else None,
            "others_change": float(np.mean(np.abs(probs[:, others] - base[:, others])))
            if len(others) else 0.0,
            "faces_without": int(lacking.sum()),
        }
    return out


def attributes_mode(config: Config, workdir: str | Workdir) -> dict:
    """Computes, saves and pictures the attribute vectors of a trained run; returns the record
    (also written to W/attribute_efficacy.json)."""
    if not config.uses_encoder:
        raise ConfigError(f"--mode=attributes needs an encoder; --model={config.model} has none")
    if config.conditional:
        raise ConfigError("--mode=attributes finds attribute vectors in z of unconditional runs "
                          "(Sec 4.1.1); a conditional run takes y directly: use --mode=sample or "
                          "--mode=evaluate --protocol=table2")
    index = data.load_index(config)
    data.require_attributes(index, "--mode=attributes")
    run = Workdir.of(workdir)
    model, step = inference.restored(config, run)
    names = index.attribute_names
    columns = chosen_attributes(config.edit_attributes, names)
    bs = config.batch_size
    train_x, train_y = inference.split_images(config, "train", config.eval_images, index)
    vectors, pos, neg = attribute_vectors(inference.encode(model, train_x, bs),
                                          data.present(config, train_y))  # LFW: scores
    with atomic_path(run.attribute_vectors, suffix=".npz") as tmp:
        np.savez(tmp, vectors=vectors, names=np.array(names), positives=pos, negatives=neg,
                 step=step, model=config.model)

    test_x, test_y = inference.split_images(config, "test", config.eval_images, index)
    test_y = data.present(config, test_y)
    z = inference.encode(model, test_x, bs)
    rng = np.random.default_rng(config.sample_seed)
    rows = np.sort(rng.choice(len(test_x), min(GRID_FACES, len(test_x)), replace=False))
    tiles = [test_x[rows], inference.decode(model, z[rows], bs)]
    for a in columns:
        if np.isnan(vectors[a]).any():
            tiles.append(np.full_like(test_x[rows], -1.0))  # black: no vector for this attribute
        else:
            tiles.append(inference.decode(model, z[rows] + vectors[a][None, :], bs))
    grid = image_grid(np.stack(tiles, axis=1).reshape((-1,) + test_x.shape[1:]), cols=len(tiles))
    png = run.sample_png(f"attributes_{step:07d}.png")
    write_png(png, grid)

    clf, _ = classifier.load_or_train(config, run, index, test=(test_x, test_y))
    probs = lambda images: 1.0 / (1.0 + np.exp(-classifier.predict_logits(clf, images, bs)))  # noqa: E731
    scores = efficacy(lambda codes: inference.decode(model, codes, bs), probs, z, test_y, vectors)
    record = {"step": step, "model": config.model, "grid": png, "grid_columns":
              ["input", "reconstruction"] + [f"+{names[a]}" for a in columns],
              "attributes": {names[a]: {**scores.get(a, {}), "positives": int(pos[a]),
                                        "negatives": int(neg[a])} for a in range(len(names))}}
    write_json(run.attribute_efficacy, record)

    writer = tensorboard_logs.summary_writer(run, "evaluate")
    with writer.as_default(step=step):
        tf.summary.image("attribute_vectors", grid[None], max_outputs=1)
        for name, s in record["attributes"].items():
            for key in ("turned_on", "others_change"):
                if s.get(key) is not None:
                    tf.summary.scalar(f"attributes/{name}/{key}", s[key])
    writer.flush()
    return record


def format_table(record: dict) -> str:
    lines = [f"attribute vectors of {record['model']} at step {record['step']} "
             f"(grid: {record['grid']})",
             f"  {'attribute':<22}{'turned_on':>10}{'baseline':>10}{'others_Δp':>11}{'pos/neg':>11}"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for name, s in record["attributes"].items():
        lines.append(f"  {name:<22}{fmt(s.get('turned_on')):>10}{fmt(s.get('baseline_on')):>10}"
                     f"{fmt(s.get('others_change')):>11}{s['positives']:>6}/{s['negatives']}")
    return "\n".join(lines)
