"""What a user sees in TensorBoard: a real server over two tiny runs, asked over HTTP.

The other tests read the event files and projector files back with TensorBoard's loaders; this
one checks that `tensorboard --logdir runs/` actually serves them through the plugins the
dashboards call: scalars, image grids, the HParams table (two sessions, one per run) and the
Embedding Projector written by --mode=embed.
"""

import importlib.util
import io
import json
import os
import shutil
import urllib.parse
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from vaegan_tf.evaluation import embed

# A TensorBoard server in a subprocess, over the vaegan and vae tiny runs.
pytestmark = pytest.mark.slow

PROJECTOR = "a/tensorboard/projector"


def _tools_module(name: str):
    # tools/ holds scripts, not a package: the server the screenshots use is loaded from its file.
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools",
                        f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_runs):
    """(base URL, logdir, vaegan config) of a TensorBoard over runs/a (vaegan, embedded) and
    runs/b (vae)."""
    logdir = str(tmp_path_factory.mktemp("tensorboard") / "runs")
    (vaegan, config), (vae, _) = tiny_runs("vaegan"), tiny_runs("vae")
    shutil.copytree(vaegan, os.path.join(logdir, "a"))  # embed writes into the copy only
    shutil.copytree(vae, os.path.join(logdir, "b"))
    embed.embed_mode(config, os.path.join(logdir, "a"))
    # --port=0 and the announced URL, --reload_task=blocking (every run loaded before it
    # listens), --load_fast=false (no Rust data server); a server that never answers fails the
    # fixture with its output.
    with _tools_module("tensorboard_screenshots").tensorboard(logdir) as base:
        yield base.rstrip("/"), logdir, config


def _get(base: str, route: str, **params) -> bytes:
    url = f"{base}{route}" + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def _get_json(base: str, route: str, **params):
    return json.loads(_get(base, route, **params))


def _post_json(base: str, route: str, body: dict):
    request = urllib.request.Request(f"{base}{route}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _last_scalar(folder: str, tag: str) -> tuple[int, float]:
    """(step, value) the run itself wrote last for `tag`, read from its event files."""
    found = None
    for path in sorted(tf.io.gfile.glob(os.path.join(folder, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    found = event.step, float(tf.make_ndarray(value.tensor))
    assert found is not None, (folder, tag)
    return found


def test_runs_are_each_workdirs_tensorboard_folders(server):
    base, _, _ = server
    runs = set(_get_json(base, "/data/runs"))
    # An evaluate/ folder is there when another test has already evaluated the shared tiny run.
    assert runs - {"a/tensorboard/evaluate", "b/tensorboard/evaluate"} == {
        "a/tensorboard", "a/tensorboard/train", "a/tensorboard/validation", PROJECTOR,
        "b/tensorboard", "b/tensorboard/train", "b/tensorboard/validation"}


def test_scalars_serve_the_losses_the_runs_wrote(server):
    base, logdir, _ = server
    tags = _get_json(base, "/data/plugin/scalars/tags")
    for run in ("a", "b"):
        for split in ("train", "validation"):
            assert {"enc_loss", "dec_loss"} <= set(tags[f"{run}/tensorboard/{split}"])
    assert "dis_loss" in tags["a/tensorboard/train"]  # the GAN's third network
    assert "dis_loss" not in tags["b/tensorboard/train"]  # a plain VAE has none
    for tag in ("enc_loss", "dec_loss"):
        points = _get_json(base, "/data/plugin/scalars/scalars", run="a/tensorboard/train",
                           tag=tag)  # [[wall_time, step, value], ...]
        step, value = _last_scalar(os.path.join(logdir, "a", "tensorboard", "train"), tag)
        assert [p[1] for p in points] == [2] == [step]  # log_every=2 of train_steps=2
        assert np.isfinite(points[-1][2]) and points[-1][2] == pytest.approx(value, rel=1e-6)


def test_images_serve_the_sample_grid_as_png(server):
    base, logdir, _ = server
    tags = _get_json(base, "/data/plugin/images/tags")
    assert {"samples", "reconstructions"} <= set(tags["a/tensorboard/train"])
    (entry,) = _get_json(base, "/data/plugin/images/images", run="a/tensorboard/train",
                         tag="samples")
    assert entry["step"] == 2
    png = _get(base, "/data/plugin/images/individualImage?" + entry["query"])
    assert png.startswith(b"\x89PNG")
    served = np.asarray(Image.open(io.BytesIO(png)))
    written = np.asarray(Image.open(os.path.join(logdir, "a", "samples", "samples_0000002.png")))
    np.testing.assert_array_equal(served, written)  # the grid the run also saved to samples/


def test_hparams_experiment_has_both_runs_hyperparameters_and_their_metrics(server):
    base, _, _ = server
    experiment = _post_json(base, "/data/plugin/hparams/experiment",
                            {"experimentName": "", "includeMetrics": True})
    infos = {h["name"]: h for h in experiment["hparamInfos"]}
    assert {"gamma", "model", "learning_rate", "latent_dim"} <= set(infos)
    assert "data_dir" not in infos
    assert set(infos["model"]["domainDiscrete"]) == {"vaegan", "vae"}
    assert infos["model"]["differs"] is True
    assert experiment["hparamInfos"][0]["name"] == "model"  # differing ones first
    # No metrics are declared: the plugin infers them from the scalars below each session.
    metrics = {(m["name"]["group"], m["name"]["tag"]) for m in experiment["metricInfos"]}
    assert {("train", "enc_loss"), ("validation", "enc_loss"), ("train", "dis_loss")} <= metrics


def test_hparams_session_groups_list_one_session_per_run(server):
    base, logdir, _ = server
    response = _post_json(base, "/data/plugin/hparams/session_groups", {
        "experimentName": "",
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                            "STATUS_RUNNING"],
        # Like the dashboard's table: the columns to return (others are left out of each group).
        "colParams": [{"hparam": "model", "order": "ORDER_ASC", "includeInResult": True},
                      {"hparam": "gamma", "includeInResult": True},
                      {"metric": {"group": "validation", "tag": "enc_loss"},
                       "includeInResult": True}],
        "startIndex": 0, "sliceSize": 100, "includeMetrics": True})
    assert response["totalSize"] == 2
    groups = {s["name"]: g for g in response["sessionGroups"] for s in g["sessions"]}
    assert set(groups) == {"a/tensorboard", "b/tensorboard"}
    for run, model in (("a", "vaegan"), ("b", "vae")):
        group = groups[f"{run}/tensorboard"]
        assert group["hparams"]["model"] == model and group["hparams"]["gamma"] > 0
        (enc,) = [m for m in group["metricValues"]
                  if m["name"] == {"group": "validation", "tag": "enc_loss"}]
        step, value = _last_scalar(os.path.join(logdir, run, "tensorboard", "validation"),
                                   "enc_loss")
        assert enc["trainingStep"] == step and enc["value"] == pytest.approx(value, rel=1e-6)


def test_projector_serves_the_embedding_of_embed_mode(server):
    base, logdir, config = server
    assert _get_json(base, "/data/plugin/projector/runs") == [PROJECTOR]
    info = _get_json(base, "/data/plugin/projector/info", run=PROJECTOR)
    (embedding,) = info["embeddings"]
    name = embedding["tensorName"]
    assert name == embed.TENSOR_NAME
    folder = os.path.join(logdir, "a", "tensorboard", "projector")
    points = tf.train.load_checkpoint(folder).get_tensor(name)
    assert [int(d) for d in embedding["tensorShape"]] == list(points.shape)
    assert points.shape[1] == config.latent_dim and points.shape[0] > config.eval_images

    served = np.frombuffer(_get(base, "/data/plugin/projector/tensor", run=PROJECTOR, name=name),
                           np.float32)
    assert served.size == points.size  # float32 bytes, row by row
    np.testing.assert_array_equal(served.reshape(points.shape), points)

    tsv = _get(base, "/data/plugin/projector/metadata", run=PROJECTOR, name=name).decode()
    rows = [line.split("\t") for line in tsv.splitlines()]
    assert rows[0][0] == "label" and "Smiling" in rows[0]
    assert len(rows) == 1 + len(points)  # a header, then one row per point
    sprite = _get(base, "/data/plugin/projector/sprite_image", run=PROJECTOR, name=name)
    assert sprite.startswith(b"\x89PNG")
