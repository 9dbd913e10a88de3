"""Checkpoints hold every variable: weights, BN statistics, optimizer slots, step and noise state."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from vaegan_tf.errors import CheckpointError
from vaegan_tf.model.checkpoint import network_variables, restore_discriminator
from vaegan_tf.model.vaegan import VAEGAN
from vaegan_tf.training import checkpointing
from vaegan_tf.training.step_clock import StepClock
from vaegan_tf.workdir import Workdir


def _trained(config, steps=2):
    model = VAEGAN(config)
    model.compile()
    x = tf.random.stateless_uniform((8, 32, 32, 3), (1, 2), -1.0, 1.0)
    for _ in range(steps):
        model.train_step(x)
    return model


def _state(model):
    values = {f"{n}/{p}": v.numpy() for n, net in model.networks.items()
              for p, v in network_variables(net).items()}
    for n, opt in model.optimizers.items():
        values.update({f"{n}_opt/{i}": v.numpy() for i, v in enumerate(opt.variables)})
    values["step"], values["noise"] = model.step.numpy(), model.noise.state.numpy()
    return values


@pytest.mark.parametrize("model_name", ["vaegan", "gan"])
def test_round_trip_restores_everything(tmp_path, model_name):
    config = tiny_config(model=model_name)
    model = _trained(config)
    manager = checkpointing.make_manager(model, str(tmp_path), config)
    manager.save(checkpoint_number=2)
    fresh = VAEGAN(config.replace(seed=7))  # different initial weights and noise
    fresh.compile()
    before = _state(fresh)
    assert checkpointing.restore_latest(checkpointing.make_manager(fresh, str(tmp_path), config)) == 2
    saved, restored = _state(model), _state(fresh)
    assert saved.keys() == restored.keys()
    assert any("moving_variance" in k for k in saved) and any("conv2/kernel" in k for k in saved)
    for key in saved:
        np.testing.assert_array_equal(restored[key], saved[key], err_msg=key)
    # The test would notice a variable left out: they all start different.
    assert sum(not np.array_equal(before[k], saved[k]) for k in saved) > 0.9 * len(saved)


def test_frozen_discriminator_loads_every_variable(tmp_path):
    gan = _trained(tiny_config(model="gan"))
    checkpointing.make_manager(gan, str(tmp_path), gan.config).save(checkpoint_number=2)
    disl = VAEGAN(tiny_config(model="vae_disl", disl_from=str(tmp_path), seed=3))
    restore_discriminator(disl.discriminator, Workdir(str(tmp_path)).newest_checkpoint(), "gan")
    for a, b in zip(gan.discriminator.weights, disl.discriminator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_incompatible_discriminator_is_a_clear_error(tmp_path):
    gan = _trained(tiny_config(model="gan"), steps=1)
    checkpointing.make_manager(gan, str(tmp_path), gan.config).save(checkpoint_number=1)
    wide = VAEGAN(tiny_config(model="vae_disl", disl_from=str(tmp_path), dis_width=8))
    with pytest.raises(CheckpointError, match="--dis_width"):
        restore_discriminator(wide.discriminator, Workdir(str(tmp_path)).newest_checkpoint(),
                              "gan")


@pytest.mark.slow  # fits 5 steps (every training run uses the callback)
def test_callback_saves_every_n_and_at_end_and_stops(tmp_path):
    config = tiny_config(model="vae", train_steps=5, checkpoint_every=2)
    model = VAEGAN(config)
    model.compile()
    manager = checkpointing.make_manager(model, str(tmp_path), config)
    ds = tf.data.Dataset.from_tensors(tf.zeros((8, 32, 32, 3))).repeat()
    model.fit(ds, epochs=3, steps_per_epoch=2, verbose=0,
              callbacks=[StepClock([checkpointing.CheckpointCallback(manager, 2, 5)])])
    assert int(model.step.numpy()) == 5  # stopped inside the third epoch
    assert [int(p.rsplit("-", 1)[1]) for p in manager.checkpoints] == [2, 4, 5][-config.keep_checkpoints:]


def test_truncated_newest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    config = tiny_config(model="vae", keep_checkpoints=5)
    model = _trained(config, steps=1)
    manager = checkpointing.make_manager(model, str(tmp_path), config)
    manager.save(checkpoint_number=1)
    expected = _state(model)
    model.train_step(tf.zeros((8, 32, 32, 3)))
    newest = manager.save(checkpoint_number=2)
    with open(newest + ".data-00000-of-00001", "r+b") as f:
        f.truncate(100)
    fresh = VAEGAN(config.replace(seed=3))
    fresh.compile()
    assert checkpointing.restore_latest(checkpointing.make_manager(fresh, str(tmp_path), config)) == 1
    restored = _state(fresh)
    for key in expected:
        np.testing.assert_array_equal(restored[key], expected[key], err_msg=key)


def test_no_readable_checkpoint_is_a_clear_error(tmp_path):
    config = tiny_config(model="vae")
    model = _trained(config, steps=1)
    manager = checkpointing.make_manager(model, str(tmp_path), config)
    path = manager.save(checkpoint_number=1)
    open(path + ".index", "wb").close()
    fresh = VAEGAN(config)
    fresh.compile()
    with pytest.raises(CheckpointError, match="no checkpoint .* can be restored"):
        checkpointing.restore_latest(checkpointing.make_manager(fresh, str(tmp_path), config))
