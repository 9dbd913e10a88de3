"""How fast one train step runs, against the machine's own matmul peak, and where its time goes.

time_train_step: the compiled train step of VAEGAN(config) on in-memory random batches: warm-up
steps, then the median of timed steps; with the recipe's least work per image (flops.py) and what
the traced step executes, the achieved GFLOP/s against this process's own matmul peak for the
precision (`utilization`), and peak memory. benchmark.side_by_side times every --gradients x precision
and the paper-literal recipe's default step in turns in one process (one peak per dtype).
peak_matmul_gflops: chained square matmuls in the precision's compute dtype, on the device
training uses. profile_step: seconds per op type from the TensorFlow profiler.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import resource
import statistics
import time
from typing import Any, NamedTuple

import keras
import tensorflow as tf

from vaegan_tf.config import Config
from vaegan_tf.errors import ConfigError
from vaegan_tf.perf import flops

# The dtype the matmuls of a Keras mixed-precision policy run in.
COMPUTE_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
# Attribute vectors of the in-memory batches when the config does not say (CelebA has 40).
DEFAULT_ATTRIBUTES = 40


def training_device() -> str:
    """Where TensorFlow places training by default: the first GPU if there is one."""
    return "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"


@functools.lru_cache(maxsize=None)
def peak_matmul_gflops(dtype: str, size: int = 0, repeats: int = 5, chain: int = 4) -> float:
    """GFLOP/s of `chain` dependent size×size matmuls in `dtype`, median of `repeats` calls after
    a warm-up call, on the training device. size 0: 2048 on a CPU, 8192 on a GPU.

    Dependent matmuls keep the graph optimiser from merging them and one call long enough that
    dispatch costs nothing; b is scaled by 1/√size so the chain stays finite in float16.
    """
    device = training_device()
    size = size or (8192 if "GPU" in device else 2048)
    with tf.device(device):
        a = tf.cast(tf.random.stateless_normal((size, size), seed=(1, 2)), dtype)
        b = tf.cast(tf.random.stateless_normal((size, size), seed=(3, 4)) / size ** 0.5, dtype)

        @tf.function
        def chained(a, b):
            for _ in range(chain):
                a = tf.matmul(a, b)
            return tf.reduce_sum(tf.cast(a[0], tf.float32))  # fetching it waits for the chain

        chained(a, b).numpy()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            chained(a, b).numpy()
            times.append(time.perf_counter() - start)
    return 2 * chain * size ** 3 / statistics.median(times) / 1e9


def _reset_peak_memory(device: str) -> None:
    if "GPU" in device:
        tf.config.experimental.reset_memory_stats(device.strip("/"))
        return
    with contextlib.suppress(OSError):  # Linux: "5" resets VmHWM, the RSS high-water mark
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")


def _peak_memory_mb(device: str) -> float:
    """GPU: TensorFlow's allocator peak. CPU: the process's RSS high-water mark (since the last
    reset, where Linux allows one, else since the process started)."""
    if "GPU" in device:
        return tf.config.experimental.get_memory_info(device.strip("/"))["peak"] / 2 ** 20
    with contextlib.suppress(OSError, IndexError, ValueError):
        with open("/proc/self/status") as f:
            line = next(l for l in f if l.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def random_batches(config: Config, count: int) -> list[tuple[tf.Tensor, tf.Tensor]]:
    """`count` batches shaped like make_dataset's: (images in [-1, 1], 0/1 float32 attributes)."""
    s, n = config.image_size, config.batch_size
    generator = tf.random.Generator.from_seed(config.seed)
    attributes = config.num_attributes or DEFAULT_ATTRIBUTES
    return [(generator.uniform((n, s, s, 3), -1.0, 1.0),
             tf.cast(generator.uniform((n, attributes)) < 0.5, tf.float32))
            for _ in range(count)]


def check_counts(steps: int, warmup: int, peak_size: int = 0) -> None:
    if steps < 1:
        raise ConfigError(f"--benchmark_steps: must be >= 1; got {steps}")
    if warmup < 1:  # the first call traces and compiles: never a timed step
        raise ConfigError(f"--benchmark_warmup: must be >= 1; got {warmup}")
    if peak_size < 0:
        raise ConfigError(f"--benchmark_matmul_size: must be >= 0 (0 = the device's default); "
                          f"got {peak_size}")


class Step(NamedTuple):
    """A compiled train step of VAEGAN(config) ready to time, and what its graph executes."""
    config: Config
    call: Any  # batch -> logs
    batches: list
    executed_flops: int


def prepare(config: Config, count: int) -> Step:
    from vaegan_tf.model.vaegan import VAEGAN

    keras.utils.set_random_seed(config.seed)
    model = VAEGAN(config)  # builds its networks under config.compute_precision's policy
    model.compile()
    step = tf.function(model.train_step, jit_compile=config.jit_compile)
    batches = random_batches(config, count)
    executed = flops.executed_flops(step.get_concrete_function(batches[0]).graph)
    return Step(config, step, batches, executed)


def timed(step: Step, i: int) -> tuple[float, dict]:
    """Seconds of the step on its i-th batch (in turn), ending when its metrics are fetched."""
    start = time.perf_counter()
    logs = {k: float(v) for k, v in step.call(step.batches[i % len(step.batches)]).items()}
    return time.perf_counter() - start, logs


def figures(step: Step, times: list[float], peak: float) -> dict[str, float]:
    """Speed and work of one timed step: img/s, least work and what the graph executes."""
    c = step.config
    step_s = statistics.median(times)
    img_per_s = c.batch_size / step_s
    gflop = flops.least_work_flops_per_image(c) / 1e9
    executed = step.executed_flops / c.batch_size / 1e9
    return {
        "step_s": step_s, "step_s_min": min(times), "train_img_per_s": img_per_s,
        # The least work of the configured recipe (flops.py), and the work the traced step
        # really runs (flops.executed_flops): their ratio is the step's extra work, and
        # kernel_utilization how close to the matmul peak the kernels it runs are.
        "gflop_per_img": gflop, "achieved_gflops": gflop * img_per_s,
        "peak_gflops": peak, "utilization": gflop * img_per_s / peak,
        "executed_gflop_per_img": executed, "executed_over_least": executed / gflop,
        "kernel_utilization": executed * img_per_s / peak,
    }


def time_train_step(config: Config, steps: int = 5, warmup: int = 2,
                    peak_size: int = 0) -> dict[str, Any]:
    """Seconds per compiled train step of VAEGAN(config) and what they mean, in one process.

    The step is tf.function(model.train_step, jit_compile=config.jit_compile) on a few in-memory
    random batches in turn; each timed step ends when its metrics are fetched.
    """
    check_counts(steps, warmup, peak_size)
    config = config.replace(precision=config.compute_precision)  # report what ran, not "auto"
    device = training_device()
    with tf.device(device):
        _reset_peak_memory(device)
        step = prepare(config, min(steps + warmup, 4))
        times, logs = [], {}
        for i in range(warmup + steps):
            seconds, logs = timed(step, i)
            if i >= warmup:
                times.append(seconds)
        peak_memory = _peak_memory_mb(device)
    peak = peak_matmul_gflops(COMPUTE_DTYPE[config.precision], peak_size)
    return {
        "model": config.model, "precision": config.precision, "gradients": config.gradients,
        "jit_compile": config.jit_compile, "batch_size": config.batch_size,
        "device": device.strip("/"), **figures(step, times, peak),
        "peak_memory_mb": peak_memory,
        # Mean of the step's non-finite flag: a skipped update would flatter the timing.
        "nonfinite_fraction": logs.get("nonfinite", 0.0),
    }


# Profiler spans that contain a step's ops rather than being ops themselves.
_NOT_OPS = ("__inference", "ExecutorState:", "EagerLocalExecute:", "KernelAndDeviceFunc:")


def profile_step(config: Config, logdir: str, steps: int = 2, warmup: int = 2) -> dict[str, float]:
    """Traces `steps` compiled train steps with the TensorFlow profiler into `logdir` (open it
    with TensorBoard's profile plugin) and returns seconds per step spent in each op type,
    summed over threads, busiest first."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from vaegan_tf.model.vaegan import VAEGAN

    check_counts(steps, warmup)
    keras.utils.set_random_seed(config.seed)
    model = VAEGAN(config)
    model.compile()
    step = tf.function(model.train_step, jit_compile=config.jit_compile)
    batch = random_batches(config, 1)[0]
    for _ in range(warmup):
        float(step(batch)["dec_loss"])
    tf.profiler.experimental.start(logdir)
    try:
        for _ in range(steps):
            float(step(batch)["dec_loss"])
    finally:
        tf.profiler.experimental.stop()
    seconds: dict[str, float] = {}
    for path in glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
        for plane in space.planes:
            for line in plane.lines:
                for event in line.events:
                    # TensorFlow ops are recorded as "name:Type"; other events have no colon,
                    # except the executor's own spans around the whole step.
                    name = plane.event_metadata[event.metadata_id].name
                    if ":" in name and not name.startswith(_NOT_OPS):
                        kind = name.rsplit(":", 1)[1].replace("_MklNative", "").replace("_Mkl", "")
                        seconds[kind] = seconds.get(kind, 0.0) + event.duration_ps / 1e12 / steps
    return dict(sorted(seconds.items(), key=lambda kv: -kv[1]))


def format_profile(seconds: dict[str, float], top: int = 12) -> str:
    total = sum(seconds.values())
    lines = [f"{'op type':<36}{'s/step':>10}{'share':>8}"]
    lines += [f"{k:<36}{v:>10.3f}{v / total:>8.1%}" for k, v in list(seconds.items())[:top]]
    return "\n".join(lines)
