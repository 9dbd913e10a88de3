"""How a model is stored: the checkpoint of its three networks, their optimizers, the step and the
noise generators' state.

Network variables are stored under their Keras paths ("conv2/kernel"), not through the Python
object graph: Keras 3 layers kept in Python lists are invisible to tf.train.Checkpoint's graph, so
relying on it silently drops weights. No pickled code is stored; a checkpoint is read back into
freshly built models, whose optimizers are built first so their slots are matched.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from vaegan_tf.errors import CheckpointError

# What a damaged or mismatched checkpoint raises while being read (a truncated data file gives
# IndexError from TF's reader).
UNREADABLE = (tf.errors.OpError, AssertionError, ValueError, IndexError, OSError)


def first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]


def network_variables(network: keras.Model) -> dict[str, keras.Variable]:
    """Every variable of a network (BN statistics included) keyed by its path inside the network."""
    prefix = network.name + "/"
    variables = {v.path.removeprefix(prefix): v for v in network.weights}
    if len(variables) != len(network.weights):
        raise ValueError(f"{network.name} has variables with the same path")
    return variables


def make_checkpoint(model) -> tf.train.Checkpoint:
    """The whole training state of a VAEGAN, as training saves and resumes it."""
    objects = {n: network_variables(net) for n, net in model.networks.items()}
    objects.update({f"{n}_optimizer": opt for n, opt in model.optimizers.items()})
    return tf.train.Checkpoint(step=model.step, noise=model.noise.state,
                               eval_noise=model.eval_noise.state, lr_scale=model.lr_scale, **objects)


def restore_networks(model, path: str) -> int:
    """Only the networks and the step from checkpoint `path`; returns the step.

    For inference (export, evaluation): optimizer slots and training-only state are not read, so
    checkpoints stay usable when those change.
    """
    objects = {n: network_variables(net) for n, net in model.networks.items()}
    try:
        tf.train.Checkpoint(step=model.step, **objects).restore(path).expect_partial() \
            .assert_existing_objects_matched()
    except UNREADABLE as e:
        raise CheckpointError(f"cannot restore {path} into --model={model.config.model}: "
                              f"{first_line(e)}") from None
    return int(model.step.numpy())


def restore_discriminator(discriminator: keras.Model, path: str, source: str) -> None:
    """Dis alone from checkpoint `path` (vae_disl's frozen Dis_l); `source` names where the
    checkpoint came from in the error a mismatch raises."""
    try:
        tf.train.Checkpoint(discriminator=network_variables(discriminator)).restore(path) \
            .expect_partial().assert_existing_objects_matched()
    except UNREADABLE as e:
        raise CheckpointError(f"{source}: its discriminator does not fit this config "
                              f"(check --dis_width, --fc_width, --image_size): "
                              f"{first_line(e)}") from None
