"""tf.distribute: strategies from the config, N replicas computing what one device does, and only
the chief writing.

Logical CPU devices and multi-worker collectives must be configured before TensorFlow starts, so
those checks run in processes of their own: distribute_helper.py (2 logical CPU devices) and two
`run.py --strategy=multi_worker` workers on 127.0.0.1. This process keeps TensorFlow's defaults.
"""

import json
import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config
from workers import tf_config

from vaegan_tf import config as config_lib
from vaegan_tf.errors import ConfigError
from vaegan_tf.model.vaegan import VAEGAN
from vaegan_tf.training import checkpointing, distribute
from vaegan_tf.training.train import train_mode
from vaegan_tf.workdir import Workdir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELPER = os.path.join(ROOT, "tests", "distribute_helper.py")

# One step of RMSProp moves a weight by at most lr·sqrt(1/(1-rho)) ≈ 9.5e-4 and is blind to the
# gradient's scale, so weights are compared absolutely, well below one step, and the gradients
# through the optimizer's velocity slots ((1-rho)·g², which a wrong loss scale changes by its
# square), relative to each slot's largest value. Measured on 2 CPU replicas: 1.8e-5 and 2.6e-5.
# Measured: 3.4e-5 when this test runs alone, up to 3e-3 inside the full suite (encoder/mean/bias),
# and in two CI runs 1.1e-2 (decoder/out/bias, 1 of 3 elements; 10 of 4096 of decoder/fc/kernel).
# BN's ε = 1e-6 amplifies float32 summation-order differences between 1 and 2 replicas. The
# control below, without synchronized BN, is off by more than 3 times the update: 3e-2 still
# tells the two apart a hundredfold.
UPDATE_RTOL = 3e-2


# --- distribute.py: TF_CONFIG, device combinations, batch split, write folders ---

@pytest.mark.parametrize("cluster,task_type,index,chief,workers", [
    ({"worker": ["a:1", "b:2"]}, "worker", 0, True, 2),
    ({"worker": ["a:1", "b:2"]}, "worker", 1, False, 2),
    ({"chief": ["c:3"], "worker": ["a:1"]}, "chief", 0, True, 2),
    ({"chief": ["c:3"], "worker": ["a:1"]}, "worker", 0, False, 2),
    ({"worker": ["a:1"]}, "worker", 0, True, 1),
])
def test_tf_config_names_the_chief(cluster, task_type, index, chief, workers):
    task = distribute.parse_tf_config(tf_config(cluster, task_type, index))
    assert (task.type, task.index) == (task_type, index)
    assert task.is_chief is chief
    assert task.num_workers == workers


@pytest.mark.parametrize("text,needle", [
    (None, "TF_CONFIG environment variable, which is not set"),
    ("", "not set"),
    ("{cluster", "TF_CONFIG is not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', 'no "cluster"'),
    (tf_config({"worker": ["a:1"], "ps": ["p:1"]}, "worker", 0), "job(s) ps"),
    (tf_config({"worker": ["a:1"]}, "evaluator", 0), '"task" must be'),
    (tf_config({"worker": ["a:1"]}, ["worker"], 0), '"task" must be'),
    ("[1, 2]", 'no "cluster"'),
    (tf_config({"worker": ["a:1", "b:2"]}, "worker", 2), "task index 2 is not in 0...1"),
    (tf_config({"worker": ["a:1"]}, "worker", "0"), "task index '0'"),
    (tf_config({"worker": ["localhost"]}, "worker", 0), '"host:port"'),
    (tf_config({"worker": []}, "worker", 0), '"host:port"'),
    (tf_config({"chief": ["a:1", "b:2"], "worker": ["c:3"]}, "chief", 0), "2 chiefs"),
])
def test_bad_tf_config_is_one_clear_error(text, needle):
    with pytest.raises(ConfigError) as e:
        distribute.parse_tf_config(text)
    assert needle in str(e.value)


def test_multi_worker_without_tf_config_stops_before_tensorflow_starts(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        distribute.make_distribution(tiny_config(strategy="multi_worker"))


@pytest.mark.parametrize("strategy", ["default", "multi_worker"])
def test_cpu_devices_only_with_mirrored(strategy):
    with pytest.raises(ConfigError, match=f"--num_cpu_devices=2 .*--strategy={strategy}"):
        distribute.check_devices(tiny_config(strategy=strategy, num_cpu_devices=2))
    distribute.check_devices(tiny_config(strategy="mirrored", num_cpu_devices=2))  # accepted


def test_bad_device_combination_writes_nothing(tmp_path, synthetic_root):
    workdir = str(tmp_path / "run")
    with pytest.raises(ConfigError, match="--num_cpu_devices=2"):
        train_mode(tiny_config(data_dir=synthetic_root, num_cpu_devices=2), workdir)
    assert not os.path.exists(workdir)


def test_default_strategy_is_one_chief_replica():
    d = distribute.make_distribution(tiny_config())
    assert (d.num_replicas, d.is_chief, d.multi_worker) == (1, True, False)


def _distribution(replicas, is_chief=True, task=None):
    stub = types.SimpleNamespace(num_replicas_in_sync=replicas)  # only the count is read
    return distribute.Distribution(stub, is_chief, f"{replicas} test replicas", task)


def test_global_batch_is_split_evenly_or_refused():
    assert distribute.per_replica_batch_size(12, _distribution(3)) == 4
    assert distribute.per_replica_batch_size(64, _distribution(1)) == 64
    with pytest.raises(ConfigError, match=r"--batch_size=10 .* 4 replicas .* --batch_size=8"):
        distribute.per_replica_batch_size(10, _distribution(4))
    with pytest.raises(ConfigError, match=r"--batch_size=3 .* 4 replicas .* --batch_size=4"):
        distribute.per_replica_batch_size(3, _distribution(4))


def test_the_chief_writes_in_the_workdir_others_in_a_folder_deleted_after(tmp_path):
    workdir = str(tmp_path / "run")
    run = Workdir(workdir)
    with distribute.write_dir(run, _distribution(2)) as out:
        assert out is run
    task = distribute.Task({"worker": ["a:1", "b:2"]}, "worker", 1)
    with pytest.raises(RuntimeError, match="boom"):
        with distribute.write_dir(run, _distribution(2, False, task)) as out:
            assert out.path != workdir and os.path.isdir(out.path)
            assert not out.path.startswith(workdir)
            open(out.join("file"), "w").close()
            raise RuntimeError("boom")
    assert not os.path.exists(out.path)  # deleted even when the run fails
    assert not os.path.exists(workdir)


def test_cpu_devices_after_tensorflow_started_is_a_clear_error():
    have = len(tf.config.list_logical_devices("CPU"))  # starts TensorFlow in this process
    assert len(distribute.setup_cpu_devices(have)) == have  # what it already has: fine
    with pytest.raises(ConfigError, match=f"--num_cpu_devices={have + 1}: .*already started"):
        distribute.setup_cpu_devices(have + 1)


# --- two logical CPU devices: distribute_helper.py in a process of its own ---

@pytest.fixture(scope="module")
def two_devices(tmp_path_factory, synthetic_root):
    """The helper's outputs: equivalence.npz, result.json and the mirrored run's workdir."""
    out = str(tmp_path_factory.mktemp("two_devices"))
    result = subprocess.run([sys.executable, HELPER, out, synthetic_root], capture_output=True,
                            text=True, timeout=400, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


@pytest.mark.slow  # distribute_helper.py: 2 logical devices, three models and a run
def test_two_replicas_with_sync_batchnorm_match_one_device(two_devices):
    """One SGD step at global batch 8: each variable's update on 2 replicas matches one device's
    to UPDATE_RTOL of its largest element (a wrong loss scaling would double or halve it)."""
    z = np.load(os.path.join(two_devices, "equivalence.npz"))
    names = [k.removeprefix("one/") for k in z.files if k.startswith("one/")]
    network = [k for k in names if not k.startswith("opt_")]
    assert len(network) > 50
    worst = {}
    for k in network:  # trainable weights and BatchNorm statistics
        step_one = z[f"one/{k}"] - z[f"before/{k}"]
        assert np.any(step_one != 0), k  # the step moved it
        scale = np.max(np.abs(step_one))
        np.testing.assert_allclose(z[f"sync/{k}"] - z[f"before/{k}"], step_one, rtol=0,
                                   atol=UPDATE_RTOL * scale, err_msg=k)
        np.testing.assert_allclose(z[f"sync_r1/{k}"], z[f"sync/{k}"], rtol=0, atol=1e-6, err_msg=k)
        worst[k] = np.max(np.abs(z[f"local/{k}"] - z[f"one/{k}"])) / scale
    losses = [k.removeprefix("loss/one/") for k in z.files if k.startswith("loss/one/")]
    assert {"enc_loss", "dec_loss", "dis_loss", "nonfinite"} <= set(losses)
    for k in losses:
        np.testing.assert_allclose(z[f"loss/sync/{k}"], z[f"loss/one/{k}"], rtol=1e-5, atol=1e-6,
                                   err_msg=k)
    # Without synchronized BatchNorm each replica normalises by its own 4 images: the same
    # comparison then fails by far, so the one above is not passing by accident.
    assert max(worst.values()) > 10 * UPDATE_RTOL


@pytest.mark.slow  # distribute_helper.py (shared with the test above)
def test_batch_size_not_divisible_by_the_replicas_writes_nothing(two_devices):
    with open(os.path.join(two_devices, "result.json")) as f:
        result = json.load(f)
    assert result["odd_batch_error"].startswith("--batch_size=9 is the global batch and must be "
                                                "divisible by the 2 replicas")
    assert "--batch_size=8" in result["odd_batch_error"]
    assert result["odd_batch_wrote"] is False


def _decode(export_dir, z):
    return tf.saved_model.load(export_dir).signatures["serving_default"](z=z)["images"].numpy()


@pytest.mark.slow  # distribute_helper.py, then an export and a resumed run
def test_mirrored_checkpoint_exports_and_resumes_on_one_device(two_devices, synthetic_root,
                                                               tmp_path):
    workdir = os.path.join(two_devices, "mirrored")
    saved = config_lib.flat_values(json.load(open(os.path.join(workdir, "config.json"))))
    assert (saved["strategy"], saved["num_cpu_devices"]) == ("mirrored", 2)
    config = tiny_config(data_dir=synthetic_root, train_steps=4, sync_batchnorm=True)

    # Every variable comes back: two models initialised differently restore to the same weights.
    models = [VAEGAN(config.replace(seed=s)) for s in (0, 5)]
    for m in models:
        m.compile()
        assert checkpointing.restore_latest(checkpointing.make_manager(m, workdir, config)) == 2
    for a, b in zip(models[0].weights, models[1].weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # --mode=export from the 2-replica checkpoint gives what the chief exported while training.
    copy = str(tmp_path / "copy")
    shutil.copytree(workdir, copy,
                    ignore=shutil.ignore_patterns("export", "tensorboard", "samples"))
    from export.saved_model import export_mode
    written = export_mode(copy)
    z = tf.random.stateless_normal([3, config.latent_dim], seed=[1, 2])
    np.testing.assert_allclose(_decode(written["decoder"], z),
                               _decode(os.path.join(workdir, "export", "decoder", "2"), z),
                               atol=1e-6)

    # The default strategy (one device) resumes the run to step 4.
    final = train_mode(config, workdir, verbose=0)
    assert final and all(np.isfinite(v) for v in final.values())
    assert os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-4.index"))
    assert config_lib.flat_values(json.load(open(os.path.join(workdir, "config.json"))))[
        "strategy"] == "default"


# Two run.py --strategy=multi_worker workers on 127.0.0.1: tests/test_cluster_faults.py.
