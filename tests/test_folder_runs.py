"""--dataset=folder end to end: folders in the real formats (and broken files) train, resume,
evaluate, sample, embed and export; bad folders and changed folders stop with one line, and
nothing already written is touched."""

import glob
import io
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import offline_config
from picture_fixtures import formats, write_mixed_folder
from PIL import Image

from export.saved_model import export_mode
from vaegan_tf.config import Config
from vaegan_tf.data import synthetic
from vaegan_tf.errors import DataError
from vaegan_tf.evaluation import attributes, embed, evaluate, sampling
from vaegan_tf.training.train import train_mode
from vaegan_tf import run_record
from vaegan_tf.workdir import Workdir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--image_size=32", "--enc_width=8", "--dec_width=4", "--dis_width=4", "--fc_width=32",
        "--latent_dim=8", "--batch_size=8", "--log_every=2", "--eval_every=2", "--image_every=2",
        "--checkpoint_every=2", "--eval_batches=1"]


def _folder_config(data_dir, **overrides):
    values = dict(dataset="folder", data_dir=data_dir, train_steps=2, batch_size=8,
                  val_fraction=0.2, test_fraction=0.2, eval_images=8)
    values.update(overrides)
    return offline_config(**values)


def _snapshot(folder):
    """Every file under `folder` with its size and modification time."""
    return {os.path.relpath(p, folder): (os.path.getsize(p), os.path.getmtime(p))
            for p in glob.glob(os.path.join(folder, "**"), recursive=True) if os.path.isfile(p)}


def _run_py(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """A folder of every format plus broken files, trained 4 steps by run.py with a file cache."""
    base = tmp_path_factory.mktemp("folder_run")
    root, workdir = str(base / "pictures"), str(base / "run")
    write_mixed_folder(root, count=48)
    result = _run_py("--dataset=folder", f"--data_dir={root}", f"--workdir={workdir}",
                     "--train_steps=4", "--cache=file", f"--cache_dir={base / 'cache'}",
                     "--val_fraction=0.2", "--test_fraction=0.2", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, workdir, result.stdout + result.stderr


@pytest.mark.slow  # a run.py training, then in-process modes on it
def test_mixed_formats_train_with_one_skip_line_resume_and_serve(mixed_run, tmp_path):
    root, workdir, output = mixed_run
    lines = [l for l in output.splitlines() if "Skipped" in l]
    assert len(lines) == 1, output[-3000:]  # one line, not one per file, not once per pass
    assert (f"Skipped 5 of 53 files under {root}: 3 not a picture, 1 empty, 1 corrupt "
            "(notes.txt, scan.tif, text_named.png, empty.jpg, set0/truncated.jpg)") in lines[0]
    assert os.path.isfile(Workdir(workdir).folder_index)
    assert "ran out of data" not in output  # the filtered validation split's length is known

    # Resume from step 4 to 6 in-process: the recorded folder index matches, training goes on.
    # (run.py's flags again, with a larger --train_steps.)
    recorded = Config(**run_record.recorded(Workdir(workdir)))
    train_mode(recorded.replace(train_steps=6), workdir, verbose=0)
    assert os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-6.index"))

    offline = run_record.offline_config(Workdir(workdir), _folder_config(root))
    line = evaluate.evaluate_mode(offline, workdir)
    values = dict(row.split()[:2] for row in line.splitlines()[1:] if len(row.split()) >= 2)
    assert 0 < float(values["pixel_mse"]) < 4
    # No attributes: no attribute classifier, so none of its metrics.
    assert values["classifier_accuracy"] == "-" and values.get("fd_attr_samples", "-") == "-"
    paths = sampling.sample_mode(offline, workdir)
    assert paths and all(os.path.isfile(p) for p in paths)
    record = embed.embed_mode(offline, workdir)
    assert record["points"] > 0
    with pytest.raises(DataError, match="needs attributes.*--attributes_csv=FILE"):
        attributes.attributes_mode(offline, workdir)

    written = export_mode(workdir)
    encoder = tf.saved_model.load(written["encoder"])
    pictures = [formats()[n][0] for n in ("lossless.webp", "alpha.png", "animated.GIF")]
    codes = encoder.signatures["encode_jpeg"](image_bytes=tf.constant(pictures))["mean"]
    assert codes.shape == (3, 8) and np.all(np.isfinite(codes))


@pytest.mark.slow  # copies of a trained run, restarted on bad or changed folders
@pytest.mark.parametrize("change", ["missing", "empty", "only broken files", "fewer than a batch",
                                    "a picture added", "a picture removed"])
def test_a_bad_or_changed_folder_stops_with_one_line_and_touches_nothing(mixed_run, tmp_path,
                                                                        change):
    root, workdir, _ = mixed_run
    run, pictures = str(tmp_path / "run"), str(tmp_path / "pictures")
    shutil.copytree(workdir, run)
    shutil.copytree(root, pictures)
    if change == "missing":
        shutil.rmtree(pictures)
    elif change in ("empty", "only broken files", "fewer than a batch"):
        kept = {"empty": [], "only broken files": ["notes.txt", "empty.jpg"],
                "fewer than a batch": ["set0/000_baseline.jpg", "set1/deeper/001_progressive.JPEG"]}
        for path in glob.glob(os.path.join(pictures, "**"), recursive=True):
            if os.path.isfile(path) and os.path.relpath(path, pictures) not in kept[change]:
                os.remove(path)
    elif change == "a picture added":
        shutil.copy(os.path.join(pictures, "set0", "000_baseline.jpg"),
                    os.path.join(pictures, "set2", "copy.jpg"))
    else:
        os.remove(os.path.join(pictures, "set1", "deeper", "001_progressive.JPEG"))
    if change == "fewer than a batch":
        # On the trained run this is a changed folder (checked first); here a new run.
        shutil.rmtree(run)
    before = _snapshot(run)
    result = _run_py("--dataset=folder", f"--data_dir={pictures}", f"--workdir={run}",
                     "--train_steps=6", "--val_fraction=0.2", "--test_fraction=0.2", *TINY)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    needle = {"missing": "is not a folder", "empty": "holds no pictures",
              "only broken files": "1 not a picture, 1 empty (notes.txt, empty.jpg)",
              "fewer than a batch": "has 2 images, fewer than one batch of --batch_size=8",
              "a picture added": "pictures 1 added (set2/copy.jpg)",
              "a picture removed": "pictures 1 removed (set1/deeper/001_progressive.JPEG)"}[change]
    assert needle in errors[0], errors[0]
    assert _snapshot(run) == before  # no file written, replaced or removed
    assert os.path.isdir(run) == (change != "fewer than a batch")


@pytest.mark.slow  # two runs on a folder of PNGs with an attributes CSV
def test_pngs_with_attributes_give_attribute_metrics_vectors_and_a_conditional_model(tmp_path):
    pictures, csv_path = synthetic.write_picture_folder(str(tmp_path / "faces"), 64, seed=0)
    workdir = str(tmp_path / "run")
    config = _folder_config(pictures, attributes_csv=csv_path, cache="memory", crop="original",
                            train_steps=2)
    train_mode(config, workdir, verbose=0)
    train_mode(config.replace(train_steps=4), workdir, verbose=0)
    assert os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-4.index"))
    offline = run_record.offline_config(Workdir(workdir),
                                        _folder_config(pictures, attributes_csv=csv_path))
    table = evaluate.evaluate_mode(offline, workdir).splitlines()[1:]
    values = dict(row.split()[:2] for row in table if len(row.split()) >= 2)
    assert 0 <= float(values["classifier_accuracy"]) <= 1  # the CSV's attributes, classified
    record = attributes.attributes_mode(offline, workdir)
    assert len(record["attributes"]) == 11 and os.path.isfile(record["grid"])

    conditional = str(tmp_path / "conditional")
    train_mode(config.replace(conditional=True), conditional, verbose=0)
    written = export_mode(conditional)
    decoder = tf.saved_model.load(written["decoder"])
    png = decoder.signatures["decode_png"](z=tf.zeros([2, 8]), attributes=tf.ones([2, 11]))
    image = Image.open(io.BytesIO(list(png.values())[0][0].numpy()))
    assert image.size == (32, 32)


@pytest.mark.slow  # run.py starts TensorFlow in a subprocess
def test_conditional_without_attributes_is_one_line(tmp_path):
    root = str(tmp_path / "pictures")
    write_mixed_folder(root, count=16, broken=False)
    result = _run_py("--dataset=folder", f"--data_dir={root}", f"--workdir={tmp_path / 'w'}",
                     "--conditional", *TINY)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--conditional needs attributes" in result.stderr and "--attributes_csv" in result.stderr
    assert not os.path.exists(tmp_path / "w")
