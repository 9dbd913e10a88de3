"""Where training runs: a tf.distribute strategy from the config, and which process writes files.

    --strategy=default       one device: TensorFlow's default strategy
    --strategy=mirrored      MirroredStrategy over every local GPU; with --num_cpu_devices=N over N
                             logical CPU devices instead (to try several replicas on a CPU); with
                             neither, over the CPU as one replica (logged)
    --strategy=multi_worker  MultiWorkerMirroredStrategy over the cluster in TF_CONFIG (one CPU or
                             every local GPU per worker)

--batch_size stays the global batch: each of R replicas gets batch_size / R examples.

Only the chief writes into the workdir. Every other worker gets a temporary folder of its own,
deleted when it ends, for whatever it must still write (its checkpoints, which it saves in step
with the chief in case saving needs a collective op), so the workdir holds one copy of each file.

Logical CPU devices and the collective ops of multi_worker can only be configured before
TensorFlow initialises its runtime, so `make_distribution` must run before any other TensorFlow
call of the process: train.train_mode calls it first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from typing import Iterator

import tensorflow as tf
from absl import logging

from vaegan_tf.config import Config
from vaegan_tf.errors import CheckpointError, ConfigError
from vaegan_tf.training import cluster_faults
from vaegan_tf.workdir import Workdir

JOBS = ("chief", "worker")  # the TF_CONFIG jobs MultiWorkerMirroredStrategy trains with
SEE_README = "see docs/distribution.md"


@dataclasses.dataclass(frozen=True)
class Task:
    """This process's place in a TF_CONFIG cluster."""

    cluster: dict[str, list[str]]
    type: str
    index: int

    @property
    def is_chief(self) -> bool:
        # TensorFlow's rule: the "chief" task, or worker 0 when the cluster names no chief.
        return self.type == "chief" or (self.type == "worker" and self.index == 0
                                        and not self.cluster.get("chief"))

    @property
    def num_workers(self) -> int:
        return sum(len(self.cluster.get(job, [])) for job in JOBS)

    def __str__(self) -> str:
        return f"{self.type} {self.index} of {self.num_workers} workers"


@dataclasses.dataclass(frozen=True)
class Distribution:
    """The strategy a run trains under, and whether this process writes into the workdir."""

    strategy: tf.distribute.Strategy
    is_chief: bool
    description: str  # for log lines and error messages: "2 replicas on /cpu:0, /cpu:1"
    task: Task | None = None  # multi_worker only

    @property
    def num_replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    @property
    def multi_worker(self) -> bool:
        return self.task is not None


def parse_tf_config(text: str | None) -> Task:
    """The cluster and task of a TF_CONFIG value; a ConfigError naming what is wrong with it."""
    if not text:
        raise ConfigError("--strategy=multi_worker reads its cluster from the TF_CONFIG "
                          f"environment variable, which is not set; {SEE_README}")
    try:
        values = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({e}); {SEE_README}") from None
    values = values if isinstance(values, dict) else {}
    cluster, task = values.get("cluster"), values.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ConfigError(f"TF_CONFIG has no \"cluster\" object; {SEE_README}")
    unknown = sorted(set(cluster) - set(JOBS))
    if unknown:
        raise ConfigError(f"TF_CONFIG's cluster has job(s) {', '.join(unknown)}; "
                          f"--strategy=multi_worker trains with {' and '.join(JOBS)} tasks only")
    for job, addresses in cluster.items():
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and ":" in a for a in addresses)):
            raise ConfigError(f"TF_CONFIG's cluster[\"{job}\"] must be a list of \"host:port\" "
                              f"strings; got {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise ConfigError(f"TF_CONFIG's cluster names {len(cluster['chief'])} chiefs; at most 1")
    if not isinstance(task, dict) or not isinstance(task.get("type"), str) \
            or task["type"] not in cluster:
        raise ConfigError(f"TF_CONFIG's \"task\" must be {{\"type\": one of "
                          f"{', '.join(sorted(cluster))}, \"index\": N}}; got {task!r}")
    index, size = task.get("index"), len(cluster[task["type"]])
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
        raise ConfigError(f"TF_CONFIG's task index {index!r} is not in 0...{size - 1} for the "
                          f"{task['type']} job")
    return Task(cluster=cluster, type=task["type"], index=index)


def check_devices(config: Config) -> None:
    """Refuses combinations of --strategy and --num_cpu_devices that would silently do nothing."""
    if config.num_cpu_devices and config.strategy != "mirrored":
        raise ConfigError(
            f"--num_cpu_devices={config.num_cpu_devices} splits the CPU into replicas for "
            f"--strategy=mirrored only, not --strategy={config.strategy} "
            + ("(one device)" if config.strategy == "default"
               else "(each worker trains on one CPU device or on every local GPU)"))


def setup_cpu_devices(count: int) -> list[str]:
    """Splits the CPU into `count` logical devices and returns their names.

    TensorFlow fixes its devices when its runtime starts, so this must come first; calling it
    again with the same count is harmless.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is None or len(current) != count:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
        except RuntimeError:  # "Virtual devices cannot be modified after being initialized"
            have = len(tf.config.list_logical_devices("CPU"))
            if have != count:
                raise ConfigError(
                    f"--num_cpu_devices={count}: TensorFlow already started in this process "
                    f"with {have} CPU device(s); logical devices must be set before it starts "
                    "(use a new process)") from None
    return [d.name for d in tf.config.list_logical_devices("CPU")]


# One strategy per kind and devices for the life of the process: a second MirroredStrategy over
# the same devices reuses the first one's collective instance keys (its all-reduces then meet the
# wrong partners and fail on a shape mismatch), and collectives for multi_worker can only be
# configured once. So a second run in the same process (a notebook, the tests) reuses the first.
_STRATEGIES: dict[tuple, tf.distribute.Strategy] = {}


def make_distribution(config: Config) -> Distribution:
    """The strategy config.strategy names. Call it before anything else uses TensorFlow."""
    check_devices(config)
    if config.strategy == "default":
        strategy = tf.distribute.get_strategy()
        return Distribution(strategy, True, "one device")
    if config.strategy == "mirrored":
        if config.num_cpu_devices:
            devices = setup_cpu_devices(config.num_cpu_devices)
        else:
            devices = [d.name for d in tf.config.list_logical_devices("GPU")]
            if not devices:
                # A flag file written for a GPU machine still runs on a laptop, loudly.
                logging.warning("--strategy=mirrored: no GPU found, so training runs on the CPU "
                                "as one replica (--num_cpu_devices=N makes N CPU replicas)")
                devices = ["/cpu:0"]
        key = ("mirrored", *devices)
        if key not in _STRATEGIES:
            _STRATEGIES[key] = tf.distribute.MirroredStrategy(devices)
        return Distribution(_STRATEGIES[key], True,
                            f"{len(devices)} replica(s) on {', '.join(devices)}")
    text = os.environ.get("TF_CONFIG")
    task = parse_tf_config(text)
    key = ("multi_worker", text)
    if key not in _STRATEGIES:
        try:
            cluster_faults.configure_coordination(task.cluster, config.lost_worker_timeout)
            _STRATEGIES[key] = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
        except RuntimeError as e:  # "Collective ops must be configured at program startup"
            raise ConfigError(f"--strategy=multi_worker: {e}; TensorFlow already started in "
                              "this process (use a new process)") from None
    strategy = _STRATEGIES[key]
    return Distribution(strategy, task.is_chief,
                        f"{strategy.num_replicas_in_sync} replica(s), {task}", task)


def per_replica_batch_size(batch_size: int, distribution: Distribution) -> int:
    """--batch_size split over the replicas; a ConfigError unless it divides evenly."""
    replicas = distribution.num_replicas
    if batch_size % replicas:
        raise ConfigError(
            f"--batch_size={batch_size} is the global batch and must be divisible by the "
            f"{replicas} replicas ({distribution.description}); "
            f"try --batch_size={(batch_size // replicas or 1) * replicas}")
    return batch_size // replicas


@contextlib.contextmanager
def write_dir(workdir: Workdir, distribution: Distribution) -> Iterator[Workdir]:
    """The folder this process writes into: the workdir for the chief, else a temporary folder
    that is deleted when the block ends."""
    if distribution.is_chief:
        yield workdir
    else:
        task = distribution.task
        temp = tempfile.mkdtemp(prefix=f"vaegan_{task.type}{task.index}_" if task else "vaegan_")
        logging.info("Not the chief (%s): writing into %s, deleted at the end", task, temp)
        try:
            yield Workdir(temp)
        finally:
            shutil.rmtree(temp, ignore_errors=True)


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Shards each global batch across workers by element (tf.data's DATA auto-shard policy).

    Every worker runs the whole pipeline and keeps its replicas' slices of each global batch, so
    training sees exactly the batches one device would, for any number of workers and replicas:
    a resumed run skips the same batches whatever it ran on. FILE sharding would read less but
    changes which images meet in a batch with the number of workers.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def check_same_step(distribution: Distribution, step: int, directory: str) -> None:
    """Stops every worker when they resumed from different steps (a workdir not all of them see)."""
    strategy = distribution.strategy
    local = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant([step], tf.int64))
    steps = sorted({int(s) for s in strategy.gather(local, axis=0).numpy()})
    if len(steps) > 1:
        raise CheckpointError(
            f"the workers resumed from different steps {steps} of {directory}: every worker "
            "must see the same workdir (a shared filesystem)")
