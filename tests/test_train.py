"""The real training loop on tiny synthetic data: files written, read back, and resumption."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vaegan_tf.config import flat_values
from vaegan_tf.data import load_index
from vaegan_tf.errors import CheckpointError
from vaegan_tf.model.vaegan import VAEGAN
from vaegan_tf.training import checkpointing
from vaegan_tf.training import train as train_lib
from vaegan_tf.training.train import train_mode


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthetic"))


def _tags(logdir):
    acc = EventAccumulator(logdir, size_guidance={"tensors": 0})
    acc.Reload()
    return acc


@pytest.mark.slow  # a run, then its resumption
def test_demo_pipeline_writes_everything_and_resumes(tmp_path, data_dir):
    workdir = str(tmp_path / "run")
    config = tiny_config(data_dir=data_dir, train_steps=4, gan_fakes="both")  # d_recon logged too
    final = train_mode(config, workdir, verbose=0)
    assert np.isfinite(final["recon_mse"]) and np.isfinite(final["dis_loss"])

    assert flat_values(json.load(open(os.path.join(workdir, "config.json"))))["train_steps"] == 4
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == [
        "checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index",
        "ckpt-4.data-00000-of-00001", "ckpt-4.index"]

    train = _tags(os.path.join(workdir, "tensorboard", "train"))
    tensors = set(train.Tags()["tensors"])
    for tag in ("enc_loss", "dec_loss", "dis_loss", "prior", "llike", "gan_dec", "d_real",
                "d_recon", "d_prior", "learning_rate/encoder", "learning_rate/discriminator",
                "images_per_second", "samples", "reconstructions", "skip_dis", "skip_dec"):
        assert tag in tensors, tag
    steps = [e.step for e in train.Tensors("dis_loss")]
    assert steps == [2, 4]  # written at the global step, once per --log_every
    image = train.Tensors("samples")[-1]
    assert image.step == 4 and len(image.tensor_proto.string_val) == 3  # width, height, PNG
    val = _tags(os.path.join(workdir, "tensorboard", "validation"))
    assert "recon_mse" in val.Tags()["tensors"]

    pngs = sorted(os.path.basename(p) for p in glob.glob(os.path.join(workdir, "samples", "*.png")))
    assert pngs == ["reconstructions_0000002.png", "reconstructions_0000004.png",
                    "samples_0000002.png", "samples_0000004.png"]
    with Image.open(os.path.join(workdir, "samples", "samples_0000004.png")) as im:
        assert im.size == (8 * 32, 8 * 32)
    n_val = min(32, int(np.sum(load_index(config).partition == 1)))
    with Image.open(os.path.join(workdir, "samples", "reconstructions_0000004.png")) as im:
        assert im.size == (8 * 32, -(-2 * n_val // 8) * 32)  # inputs beside reconstructions

    # The newest checkpoint holds exactly the trained weights.
    restored = VAEGAN(config)
    restored.compile()
    assert checkpointing.restore_latest(checkpointing.make_manager(restored, workdir, config)) == 4

    # A rerun with a larger --train_steps continues from step 4, keeping what was written.
    train_mode(config.replace(train_steps=6), workdir, verbose=0)
    assert os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-6.index"))
    assert os.path.exists(os.path.join(workdir, "samples", "samples_0000002.png"))
    steps = [e.step for e in _tags(os.path.join(workdir, "tensorboard", "train")).Tensors("dis_loss")]
    assert steps == [2, 4, 6]
    again = VAEGAN(config)
    again.compile()
    assert checkpointing.restore_latest(checkpointing.make_manager(again, workdir, config)) == 6
    changed = [not np.array_equal(a.numpy(), b.numpy())
               for a, b in zip(restored.decoder.weights, again.decoder.weights)]
    assert any(changed)

    # Already done: nothing to train, nothing rewritten.
    assert train_mode(config.replace(train_steps=6), workdir, verbose=0) == {}


@pytest.mark.slow  # a run, then a restore
def test_restored_weights_equal_saved(tmp_path, data_dir):
    workdir = str(tmp_path / "run")
    config = tiny_config(data_dir=data_dir, train_steps=2, model="vae")
    train_mode(config, workdir, verbose=0)
    a, b = VAEGAN(config), VAEGAN(config.replace(seed=5))
    for m in (a, b):
        m.compile()
        checkpointing.restore_latest(checkpointing.make_manager(m, workdir, config))
    for va, vb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())


@pytest.mark.slow  # a run, then a second start
def test_resume_with_a_different_model_names_the_field(tmp_path, data_dir):
    workdir = str(tmp_path / "run")
    train_mode(tiny_config(data_dir=data_dir, train_steps=2, model="vae"), workdir, verbose=0)
    with pytest.raises(CheckpointError, match="--latent_dim=9"):
        train_mode(tiny_config(data_dir=data_dir, train_steps=4, model="vae", latent_dim=9),
                   workdir, verbose=0)
    assert flat_values(json.load(open(os.path.join(workdir, "config.json"))))["latent_dim"] == 8


@pytest.mark.slow  # a 2-step run per model (tiny_runs trains vaegan in the fast tier)
@pytest.mark.parametrize("model", ["vaegan", "vae", "vaegan_dis0", "gan"])
def test_every_model_trains_two_steps(tmp_path, data_dir, model):
    final = train_mode(tiny_config(data_dir=data_dir, train_steps=2, model=model),
                       str(tmp_path / model), verbose=0)
    assert final and all(np.isfinite(v) for v in final.values())


@pytest.mark.slow  # two runs
def test_vae_disl_uses_the_discriminator_of_an_earlier_run(tmp_path, data_dir):
    gan_dir = str(tmp_path / "gan")
    train_mode(tiny_config(data_dir=data_dir, train_steps=2, model="gan"), gan_dir, verbose=0)
    config = tiny_config(data_dir=data_dir, train_steps=2, model="vae_disl", disl_from=gan_dir)
    final = train_mode(config, str(tmp_path / "disl"), verbose=0)
    assert all(np.isfinite(v) for v in final.values())
    gan, disl = (VAEGAN(c) for c in (tiny_config(model="gan"), config))
    for m, d in ((gan, gan_dir), (disl, str(tmp_path / "disl"))):
        m.compile()
        checkpointing.restore_latest(checkpointing.make_manager(m, d, m.config))
    for a, b in zip(gan.discriminator.weights, disl.discriminator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # frozen: still the GAN's Dis


@pytest.mark.parametrize("source", ["empty", "missing"])
def test_vae_disl_without_a_checkpoint_is_a_clear_error_before_any_write(tmp_path, data_dir,
                                                                          source):
    disl_from = tmp_path / source
    if source == "empty":
        disl_from.mkdir()
    config = tiny_config(data_dir=data_dir, model="vae_disl", disl_from=str(disl_from))
    with pytest.raises(CheckpointError, match=f"--disl_from={disl_from}: no checkpoint"):
        train_mode(config, str(tmp_path / "disl"), verbose=0)
    assert not (tmp_path / "disl").exists()


@pytest.mark.slow  # a 2-step run per split
@pytest.mark.parametrize("split", ["train+val", "train"])
def test_training_reads_the_configured_split(tmp_path, data_dir, split, monkeypatch):
    # --train_split: the authors trained on CelebA's train and validation images.
    from vaegan_tf import data
    seen, make = [], data.training_stream

    def recording(config, name, *args, **kwargs):
        seen.append(name)
        return make(config, name, *args, **kwargs)

    monkeypatch.setattr(data, "training_stream", recording)
    train_mode(tiny_config(data_dir=data_dir, train_steps=2, train_split=split),
               str(tmp_path / "w"), verbose=0)
    assert seen == [split]
    index = load_index(tiny_config(data_dir=data_dir))
    sizes = {s: data.split_size(index, s) for s in ("train", "validation", "train+val")}
    assert sizes["train+val"] == sizes["train"] + sizes["validation"] > sizes["train"]


@pytest.mark.slow  # two runs
def test_steps_per_execution_logs_and_checkpoints_at_the_same_steps(tmp_path, data_dir):
    # 5 steps at 2 per call: the last call runs one step, and nothing runs past --train_steps.
    runs = {}
    for spe in (1, 2):
        workdir = str(tmp_path / f"spe{spe}")
        config = tiny_config(data_dir=data_dir, train_steps=5, steps_per_execution=spe)
        final = train_mode(config, workdir, verbose=0)
        train = _tags(os.path.join(workdir, "tensorboard", "train"))
        runs[spe] = (final, sorted(os.listdir(os.path.join(workdir, "checkpoints"))),
                     [e.step for e in train.Tensors("dis_loss")],
                     sorted(os.listdir(os.path.join(workdir, "samples"))))
    (final1, ckpts1, steps1, pngs1), (final2, ckpts2, steps2, pngs2) = runs[1], runs[2]
    assert ckpts1 == ckpts2 and "ckpt-5.index" in ckpts2 and "ckpt-6.index" not in ckpts2
    assert steps1 == steps2 == [2, 4, 5]
    assert pngs1 == pngs2
    # The same steps on the same batches: the same model, up to the order of float operations.
    for k in final1:
        np.testing.assert_allclose(final2[k], final1[k], rtol=1e-4, atol=1e-6, err_msg=k)


@pytest.mark.slow  # a run, then its resumption with exports
@pytest.mark.parametrize("spe", [1, 2])
def test_a_run_resumed_at_an_odd_step_acts_at_the_configured_steps(tmp_path, data_dir, spe):
    # Stopped at step 3 (its --train_steps), then extended to 9: every count is the model's step,
    # so scalars, validation, grids, checkpoints and exports land on multiples of their interval
    # as in an uninterrupted run, and at the end. The first run has --steps_per_execution=1, as
    # the resumed one's 2 would not reach an odd step.
    from export.saved_model import exports
    workdir = str(tmp_path / "run")
    intervals = dict(log_every=2, eval_every=4, image_every=4, checkpoint_every=4,
                     keep_checkpoints=10, data_dir=data_dir)
    train_mode(tiny_config(train_steps=3, **intervals), workdir, verbose=0)
    train_mode(tiny_config(train_steps=9, steps_per_execution=spe, **intervals), workdir,
               verbose=0, chief_callbacks=[exports(4)])

    train = _tags(os.path.join(workdir, "tensorboard", "train"))
    assert [e.step for e in train.Tensors("dis_loss")] == [2, 3, 4, 6, 8, 9]
    assert [e.step for e in train.Tensors("samples")] == [3, 4, 8, 9]
    val = _tags(os.path.join(workdir, "tensorboard", "validation"))
    assert [e.step for e in val.Tensors("recon_mse")] == [3, 4, 8, 9]
    ckpts = sorted(int(p.split("-")[-1].split(".")[0])
                   for p in glob.glob(os.path.join(workdir, "checkpoints", "ckpt-*.index")))
    assert ckpts == [3, 4, 8, 9]
    assert sorted(int(v) for v in os.listdir(os.path.join(workdir, "export", "encoder"))) == [4, 8, 9]


def test_steps_per_execution_must_divide_the_logging_and_checkpoint_intervals():
    from vaegan_tf.errors import ConfigError
    with pytest.raises(ConfigError, match="--steps_per_execution: must divide --log_every=2"):
        tiny_config(steps_per_execution=4)
    with pytest.raises(ConfigError, match="must divide --checkpoint_every=3"):
        tiny_config(checkpoint_every=3, steps_per_execution=2)
    assert tiny_config(steps_per_execution=2).steps_per_execution == 2


@pytest.mark.parametrize("eval_batches,expected", [(2, 2), (9, 3)])
def test_validation_of_a_filtered_split_has_a_known_length(eval_batches, expected):
    # --skip_corrupt filters the split, so its length is unknown; Keras then warns "Your input ran
    # out of data" at every validation (seen on a folder of 4000 pictures).
    values = tf.data.Dataset.range(10).filter(lambda x: x % 3 > 0)  # 6 of them
    batches = values.batch(2).map(lambda b: (tf.cast(b, tf.float32), b))
    assert batches.cardinality() == tf.data.UNKNOWN_CARDINALITY
    validation = train_lib._validation_batches(tiny_config(eval_batches=eval_batches), None,
                                               batches, replicas=1)
    assert int(validation.cardinality()) == expected == len(list(validation))
