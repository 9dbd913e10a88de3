"""cross_replica.py: the plain operation on TensorFlow's default strategy, and on 2 replicas the
same noise, means, decisions and updates one device would give.

Logical CPU devices can only be set before TensorFlow starts, so the 2-replica checks run this
file as a script in a process of their own (`python tests/test_cross_replica.py OUT.json`), which
writes what it saw; the test process keeps TensorFlow's defaults.
"""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from vaegan_tf.model import cross_replica  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPLICAS = 2


# --- the default strategy: one replica, every function the plain operation ---

def test_one_replica_outside_and_inside_a_function():
    assert cross_replica.num_replicas() == 1
    assert tf.function(lambda: tf.constant(cross_replica.num_replicas()))().numpy() == 1


def test_normal_is_keras_normal_from_the_same_seed_state():
    ours, theirs = keras.random.SeedGenerator(7), keras.random.SeedGenerator(7)
    for shape in [(4, 3), tf.constant([2, 5])]:  # a tuple, or tf.shape(mean) as the model passes
        np.testing.assert_array_equal(cross_replica.normal(shape, ours),
                                      keras.random.normal(shape, seed=theirs))
    # The seed generator advances: the next draw differs from the first.
    assert not np.array_equal(cross_replica.normal((4, 3), ours),
                              cross_replica.normal((4, 3), keras.random.SeedGenerator(7)))


def test_mean_and_all_true_are_the_identity():
    value, flag = tf.constant(2.5), tf.constant(False)
    assert cross_replica.mean(value) is value
    assert cross_replica.all_true(flag) is flag
    assert bool(cross_replica.all_true(tf.constant(True)))


@pytest.mark.parametrize("traced", [False, True])
def test_apply_where_applies_only_where_the_condition_holds(traced):
    grads = {"enc": [tf.constant(1.0)], "dec": [tf.constant(2.0), tf.constant(3.0)],
             "dis": [tf.constant(4.0)]}
    variables = {name: tf.Variable(0.0) for name in grads}

    def apply(name, gs):
        variables[name].assign_add(tf.add_n(gs))

    def step(enc, dec, dis):
        conditions = {"enc": enc, "dec": dec, "dis": dis}
        cross_replica.apply_where(conditions, grads, apply)
    if traced:
        step = tf.function(step)
    step(tf.constant(True), tf.constant(False), tf.constant(True))
    assert {n: float(v.numpy()) for n, v in variables.items()} == {"enc": 1, "dec": 0, "dis": 4}
    step(tf.constant(False), tf.constant(True), tf.constant(True))
    assert {n: float(v.numpy()) for n, v in variables.items()} == {"enc": 1, "dec": 5, "dis": 8}


# --- 2 logical CPU devices: this file as a script, in a process of its own ---

def two_replicas() -> dict:
    """What each cross_replica function gives on a 2-replica MirroredStrategy, per replica."""
    from vaegan_tf.training import distribute
    distribute.setup_cpu_devices(REPLICAS)  # before anything starts TensorFlow
    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in tf.config.list_logical_devices("CPU")])
    out = {"replicas_in_sync": strategy.num_replicas_in_sync}

    def local(value):  # per replica, as plain Python values
        return [t.numpy().tolist() for t in strategy.experimental_local_results(value)]

    def replica_id():
        return tf.distribute.get_replica_context().replica_id_in_sync_group

    with strategy.scope():
        out["num_replicas_cross"] = cross_replica.num_replicas()
        noise = keras.random.SeedGenerator(3)
        opts = {n: keras.optimizers.SGD(learning_rate=1.0) for n in ("on", "off", "gated")}
        weights = {n: tf.Variable(0.0) for n in opts}
        for n, o in opts.items():
            o.build([weights[n]])

    @tf.function
    def run(fn):
        return strategy.run(fn)

    out["num_replicas_replica"] = local(run(lambda: tf.constant(cross_replica.num_replicas())))
    # tf.shape of the local batch, as the model passes it: 3 rows on each replica.
    out["normal"] = local(run(lambda: cross_replica.normal(tf.shape(tf.zeros([3, 4])), noise)))
    out["normal_one_device"] = keras.random.normal(
        (REPLICAS * 3, 4), seed=keras.random.SeedGenerator(3)).numpy().tolist()
    out["mean"] = local(run(lambda: cross_replica.mean(2.0 * tf.cast(replica_id(), tf.float32)
                                                       + 1.0)))  # 1 and 3
    first, every = lambda: tf.equal(replica_id(), 0), lambda: replica_id() >= 0  # noqa: E731
    out["all_true_one_false"] = local(run(lambda: cross_replica.all_true(first())))
    out["all_true_all_true"] = local(run(lambda: cross_replica.all_true(every())))

    def step():
        # Each replica's own gradient: 1 on the first replica, 2 on the second.
        g = tf.cast(replica_id(), tf.float32) + 1.0
        grads = {n: [g] for n in opts}
        gate = cross_replica.all_true(first())  # false: the second replica says no
        conditions = {"on": tf.constant(True), "off": tf.constant(False), "gated": gate}
        cross_replica.apply_where(conditions, grads, lambda n, gs: opts[n].apply(gs, [weights[n]]))
        return tf.constant(0.0)
    run(step)
    out["weights"] = {n: float(v.numpy()) for n, v in weights.items()}
    return out


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("cross_replica") / "result.json")
    result = subprocess.run([sys.executable, os.path.abspath(__file__), path], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(path) as f:
        return json.load(f)


def test_two_replicas_count_two_in_both_contexts(replicas):
    assert replicas["replicas_in_sync"] == REPLICAS
    assert replicas["num_replicas_cross"] == REPLICAS
    assert replicas["num_replicas_replica"] == [REPLICAS] * REPLICAS


def test_each_replica_draws_its_slice_of_the_one_device_noise(replicas):
    slices = [np.array(s) for s in replicas["normal"]]
    assert [s.shape for s in slices] == [(3, 4)] * REPLICAS
    np.testing.assert_allclose(np.concatenate(slices), replicas["normal_one_device"], atol=1e-6)
    assert not np.allclose(slices[0], slices[1])


def test_means_and_decisions_are_the_same_on_every_replica(replicas):
    assert replicas["mean"] == [2.0, 2.0]
    assert replicas["all_true_one_false"] == [False, False]
    assert replicas["all_true_all_true"] == [True, True]


def test_apply_where_applies_each_replicas_own_gradients_where_all_agree(replicas):
    # SGD at rate 1 on the sum over replicas: -(1 + 2). Handing every replica the gradients of
    # the replica that runs merge_call's function (a closure instead of its args) gives -1.
    assert replicas["weights"] == {"on": -3.0, "off": 0.0, "gated": 0.0}


if __name__ == "__main__":
    result = two_replicas()
    with open(sys.argv[1], "w") as f:
        json.dump(result, f)
