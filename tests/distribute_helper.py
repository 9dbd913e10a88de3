"""Runs the tf.distribute checks that need 2 logical CPU devices, in a process of their own.

Logical devices can only be set before TensorFlow starts, so test_distribute.py runs this script
in a subprocess (its own pytest process keeps TensorFlow's defaults):

    python tests/distribute_helper.py OUT DATA_DIR

It writes into OUT:
    equivalence.npz  every network variable and optimizer slot before and after one step at
                     global batch 8: on one device ("one/..."), on 2 replicas with synchronized
                     BatchNorm ("sync/...", and "sync_r1/..." as held by the second replica) and
                     on 2 replicas without it ("local/..."); the step's reported losses under
                     "loss/<run>/<name>"
    result.json      what a non-divisible --batch_size raised, and whether it wrote anything
    mirrored/        a 2-step training run under --strategy=mirrored (the workdir)
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from conftest import tiny_config  # noqa: E402  (tests/ is this script's folder)

from export.saved_model import exports  # noqa: E402
from vaegan_tf import data  # noqa: E402
from vaegan_tf.errors import ConfigError  # noqa: E402
from vaegan_tf.model.vaegan import VAEGAN  # noqa: E402
from vaegan_tf.training import distribute  # noqa: E402
from vaegan_tf.training.train import train_mode  # noqa: E402

REPLICAS = 2


def _state(model: VAEGAN) -> dict[str, np.ndarray]:
    """Every network variable (BN statistics too) and optimizer variable, by name."""
    state = {f"{n}/{v.path}": v.numpy() for n, net in model.networks.items() for v in net.weights}
    # Optimizer paths carry a per-instance prefix ("rm_sprop_3/"): key them by position instead.
    state.update({f"opt_{n}/{i:03d}_{v.name}": v.numpy() for n, o in model.optimizers.items()
                  for i, v in enumerate(o.variables)})
    return state


def _second_replica(model: VAEGAN) -> dict[str, np.ndarray]:
    """The network variables as the second replica holds them (mirrored copies must agree)."""
    return {f"{n}/{v.path}": v.value.values[1].numpy()
            for n, net in model.networks.items() for v in net.weights}


def _sgd(model: VAEGAN) -> dict:
    # Plain SGD: the update is lr·gradient, so weights compare gradients. RMSProp's first step
    # is ±lr·√10 whatever the gradient's size, and a gradient that is 0 up to rounding flips it.
    return {n: keras.optimizers.SGD(learning_rate=0.1) for n in model.trained_networks}


def equivalence(out: str, data_dir: str) -> None:
    config = tiny_config(data_dir=data_dir, batch_size=8, sync_batchnorm=True)
    batch = next(iter(data.make_dataset(config, "train", training=True)))
    one_batch = tf.data.Dataset.from_tensors(batch).repeat()
    arrays = {}

    reference = VAEGAN(config)  # one device: TensorFlow's default strategy
    reference.compile(_sgd(reference))
    initial = {n: net.get_weights() for n, net in reference.networks.items()}
    arrays.update({f"before/{k}": v for k, v in _state(reference).items()})

    runs = {"one": reference}
    strategy = distribute.make_distribution(
        config.replace(strategy="mirrored", num_cpu_devices=REPLICAS)).strategy
    assert strategy.num_replicas_in_sync == REPLICAS
    for name, sync in (("sync", True), ("local", False)):
        with strategy.scope():
            runs[name] = VAEGAN(config.replace(sync_batchnorm=sync))
            runs[name].compile(_sgd(runs[name]))
        for n, net in runs[name].networks.items():  # the same starting point on every run
            net.set_weights(initial[n])
    for name, model in runs.items():
        history = model.fit(one_batch, steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)
        arrays.update({f"{name}/{k}": v for k, v in _state(model).items()})
        arrays.update({f"loss/{name}/{k}": np.float64(v[-1]) for k, v in history.history.items()})
    arrays.update({f"sync_r1/{k}": v for k, v in _second_replica(runs["sync"]).items()})
    np.savez(os.path.join(out, "equivalence.npz"), **arrays)


def batch_not_divisible(out: str, data_dir: str) -> dict:
    workdir = os.path.join(out, "odd_batch")
    config = tiny_config(data_dir=data_dir, batch_size=9, strategy="mirrored",
                         num_cpu_devices=REPLICAS)
    try:
        train_mode(config, workdir, verbose=0)
        message = None
    except ConfigError as e:
        message = str(e)
    return {"odd_batch_error": message, "odd_batch_wrote": os.path.exists(workdir)}


def mirrored_run(out: str, data_dir: str) -> None:
    config = tiny_config(data_dir=data_dir, train_steps=2, strategy="mirrored",
                         num_cpu_devices=REPLICAS, sync_batchnorm=True)
    train_mode(config, os.path.join(out, "mirrored"), verbose=0,
               chief_callbacks=[exports(config.export_every)])


def main(out: str, data_dir: str) -> None:
    distribute.setup_cpu_devices(REPLICAS)  # before anything starts TensorFlow
    os.makedirs(out, exist_ok=True)
    equivalence(out, data_dir)
    result = batch_not_divisible(out, data_dir)
    mirrored_run(out, data_dir)
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
