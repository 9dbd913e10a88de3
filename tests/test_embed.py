"""--mode=embed: the Projector's files, read back with TensorBoard's own loaders and plugin."""

import io
import json
import math
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import offline_config
from google.protobuf import text_format
from PIL import Image
from tensorboard.plugins import projector
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
from test_run import _assert_clean_failure, _run

from vaegan_tf import data
from vaegan_tf.errors import CheckpointError, ConfigError
from vaegan_tf.evaluation import attributes, embed, inference
from vaegan_tf.images import image_grid


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, tiny_runs):
    """(workdir, config, record) of one --mode=embed on a copy of the tiny vaegan run."""
    source, config = tiny_runs("vaegan")
    workdir = str(tmp_path_factory.mktemp("embed") / "run")
    shutil.copytree(source, workdir)
    assert not os.path.exists(os.path.join(workdir, "attribute_vectors.npz"))  # computed here
    return workdir, config, embed.embed_mode(config, workdir)


def _expected(config, workdir):
    """μ(x) of the test images and the vectors from the train split, by calling Enc directly."""
    model, _ = inference.restored(config, workdir)
    mu = lambda x: model.encoder(tf.constant(x), training=False)[0].numpy()  # noqa: E731
    test_x, test_y = inference.split_images(config, "test", config.eval_images)
    train_x, train_y = inference.split_images(config, "train", config.eval_images)
    vectors, _, _ = attributes.attribute_vectors(mu(train_x), data.present(config, train_y))
    return model, test_x, data.present(config, test_y), mu(test_x), vectors


def test_checkpoint_holds_mu_of_test_faces_then_mean_plus_each_vector(embedded):
    workdir, config, record = embedded
    folder = os.path.join(workdir, "tensorboard", "projector")
    assert record["folder"] == folder and record["step"] == 2
    with open(os.path.join(folder, "projector_config.pbtxt")) as f:
        pbtxt = text_format.Parse(f.read(), ProjectorConfig())
    (info,) = pbtxt.embeddings
    assert info.tensor_name == embed.TENSOR_NAME
    assert (info.metadata_path, info.sprite.image_path) == ("metadata.tsv", "sprite.png")
    assert list(info.sprite.single_image_dim) == [config.image_size] * 2
    points = tf.train.load_checkpoint(folder).get_tensor(info.tensor_name)  # via `checkpoint`

    _, test_x, _, mu, vectors = _expected(config, workdir)
    names = data.attribute_names(config)
    kept = [a for a, v in enumerate(vectors) if not np.isnan(v).any()]
    assert record["vectors"] == [names[a] for a in kept] and record["skipped"] == []
    assert record["vectors_from"] == f"{config.eval_images} train images"
    assert points.shape == (len(test_x) + len(kept), config.latent_dim) == (
        record["points"], config.latent_dim)
    np.testing.assert_allclose(points[:len(test_x)], mu, atol=1e-5)
    np.testing.assert_allclose(points[len(test_x):], mu.mean(0) + vectors[kept], atol=1e-5)


def test_metadata_labels_every_point_and_sprite_tiles_show_them(embedded):
    workdir, config, record = embedded
    folder, n, s = record["folder"], record["points"], config.image_size
    model, test_x, present, mu, _ = _expected(config, workdir)
    names = data.attribute_names(config)
    with open(os.path.join(folder, "metadata.tsv")) as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    assert len(rows) == n + 1 and rows[0] == ["label", *names]
    smiling = names.index("Smiling")
    assert [r[1 + smiling] for r in rows[1:len(test_x) + 1]] == [
        "Smiling" if p else "not Smiling" for p in present[:, smiling]]
    assert [r[0] for r in rows[len(test_x) + 1:]] == [f"+{v}" for v in record["vectors"]]
    assert all(set(r[1:]) == {"vector"} for r in rows[len(test_x) + 1:])

    with Image.open(os.path.join(folder, "sprite.png")) as im:
        sprite = np.asarray(im.convert("RGB"))
    side = math.ceil(math.sqrt(n))
    assert sprite.shape == (side * s, side * s, 3)
    def tile(i):  # the Projector reads the sprite row by row
        r, c = divmod(i, side)
        return sprite[r * s:(r + 1) * s, c * s:(c + 1) * s]
    np.testing.assert_array_equal(tile(0), image_grid(test_x[:1], 1))
    last = tf.train.load_checkpoint(folder).get_tensor(embed.TENSOR_NAME)[-1]  # the last vector
    decoded = model.decoder(tf.constant(last[None]), training=False).numpy()
    assert np.abs(tile(n - 1).astype(int) - image_grid(decoded, 1)).max() <= 1
    assert not tile(side * side - 1).any() or n == side * side  # padding is black


def test_tensorboard_projector_plugin_serves_the_run(embedded):
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer as multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
    from werkzeug.test import Client

    workdir, config, record = embedded
    logdir = os.path.join(workdir, "tensorboard")  # as `tensorboard --logdir WORKDIR/tensorboard`
    events = multiplexer.EventMultiplexer()
    events.AddRunsFromDirectory(logdir)
    events.Reload()
    plugin = ProjectorPlugin(base_plugin.TBContext(
        logdir=logdir, data_provider=data_provider.MultiplexerDataProvider(events, logdir)))
    apps = plugin.get_plugin_apps()
    get = lambda route, query="": Client(apps[route]).get("/?run=projector" + query)  # noqa: E731
    assert json.loads(get("/runs").get_data()) == ["projector"]
    (info,) = json.loads(get("/info").get_data())["embeddings"]
    assert info["tensorName"] == embed.TENSOR_NAME
    assert info["tensorShape"] == [record["points"], config.latent_dim]
    name = "&name=" + embed.TENSOR_NAME
    served = np.frombuffer(get("/tensor", name).get_data(), np.float32)
    stored = tf.train.load_checkpoint(record["folder"]).get_tensor(embed.TENSOR_NAME)
    np.testing.assert_array_equal(served.reshape(stored.shape), stored)
    assert get("/metadata", name).get_data(as_text=True).startswith("label\t")
    with Image.open(io.BytesIO(get("/sprite_image", name).get_data())) as im:
        assert im.size[0] == math.ceil(math.sqrt(record["points"])) * config.image_size


def test_saved_vectors_of_the_same_step_are_used_and_nan_ones_skipped(embedded, tmp_path,
                                                                     monkeypatch):
    workdir, config, _ = embedded
    names = data.attribute_names(config)
    planted = np.arange(len(names) * config.latent_dim, dtype=np.float32).reshape(len(names), -1)
    planted[names.index("Eyeglasses")] = np.nan  # as --mode=attributes saves an unseen attribute
    shutil.copytree(workdir, tmp_path / "run")
    workdir = str(tmp_path / "run")
    npz = os.path.join(workdir, "attribute_vectors.npz")
    np.savez(npz, vectors=planted, names=np.array(names), step=2)
    said = []
    monkeypatch.setattr(embed.logging, "info", lambda msg, *args: said.append(msg % args))
    record = embed.embed_mode(config, workdir)
    assert record["vectors_from"] == npz and record["skipped"] == ["Eyeglasses"]
    assert any(line.startswith("No vector for Eyeglasses") for line in said), said
    points = tf.train.load_checkpoint(record["folder"]).get_tensor(embed.TENSOR_NAME)
    n = record["images"]
    kept = [a for a, name in enumerate(names) if name != "Eyeglasses"]
    np.testing.assert_allclose(points[n:], points[:n].mean(0) + planted[kept], rtol=1e-6)
    with open(os.path.join(record["folder"], "metadata.tsv")) as f:
        assert sum(1 for _ in f) == n + len(kept) + 1

    # From another step (training went on, or --checkpoint chose another): computed afresh.
    np.savez(npz, vectors=planted, names=np.array(names), step=3)
    vectors, source = embed.attribute_directions(config, workdir, inference.restored(
        config, workdir)[0], 2, data.load_index(config))
    assert source == f"{config.eval_images} train images" and not np.isnan(vectors).any()


def test_a_failed_rewrite_keeps_the_previous_embedding_and_other_runs(tmp_path, monkeypatch):
    folder = str(tmp_path / "tensorboard" / "projector")
    os.makedirs(tmp_path / "tensorboard" / "train")
    (tmp_path / "tensorboard" / "train" / "events").write_text("kept")
    tiles = np.zeros((5, 8, 8, 3), np.float32)
    rows = [["label", "Smiling"]] + [[str(i), "Smiling"] for i in range(5)]
    first = np.ones((5, 3), np.float32)
    embed.write_projector(folder, first, tiles, rows, "first", step=1)

    def crash(*args):
        raise OSError("disk full")
    monkeypatch.setattr(projector, "visualize_embeddings", crash)
    with pytest.raises(OSError):
        embed.write_projector(folder, 2 * first, tiles, rows, "second", step=2)
    assert os.path.isfile(os.path.join(folder, "projector_config.pbtxt"))
    np.testing.assert_array_equal(
        tf.train.load_checkpoint(folder).get_tensor(embed.TENSOR_NAME), first)

    monkeypatch.undo()
    embed.write_projector(folder, 3 * first[:4], tiles[:4], rows[:5], "third", step=3)
    np.testing.assert_array_equal(
        tf.train.load_checkpoint(folder).get_tensor(embed.TENSOR_NAME), 3 * first[:4])
    assert sorted(os.listdir(tmp_path / "tensorboard")) == ["projector", "train"]  # no leftovers
    assert (tmp_path / "tensorboard" / "train" / "events").read_text() == "kept"


@pytest.mark.parametrize("overrides,needle", [(dict(model="gan"), "--model=gan has no encoder"),
                                              (dict(conditional=True), "conditional")])
def test_models_without_unconditional_codes_are_refused(tmp_path, overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        embed.embed_mode(offline_config(**overrides), str(tmp_path))


def test_missing_checkpoint_is_refused_before_writing(tmp_path, tiny_runs):
    source, config = tiny_runs("vaegan")
    workdir = str(tmp_path / "run")
    shutil.copytree(source, workdir)
    missing = os.path.join(workdir, "checkpoints", "ckpt-999")
    with pytest.raises(CheckpointError, match="ckpt-999"):
        embed.embed_mode(config.replace(checkpoint=missing), workdir)
    assert not os.path.exists(os.path.join(workdir, "tensorboard", "projector"))


@pytest.mark.slow  # run.py in a subprocess, twice
def test_run_py_embed(tmp_path, tiny_runs):
    source, config = tiny_runs("vaegan")
    shutil.copytree(source, tmp_path / "run")
    result = _run("--mode=embed", f"--workdir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "points in" in result.stdout
    assert os.path.isfile(tmp_path / "run" / "tensorboard" / "projector" / "projector_config.pbtxt")
    os.makedirs(tmp_path / "gan")  # a gan run's folder: its recorded config is refused first
    (tmp_path / "gan" / "config.json").write_text(config.replace(model="gan").to_json())
    _assert_clean_failure(_run("--mode=embed", f"--workdir={tmp_path / 'gan'}"),
                          "error:", "--model=gan")
