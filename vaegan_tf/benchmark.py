"""`--mode=benchmark`: how fast training, the input pipeline and the machine's matmuls run.

time_train_step: the compiled train step of VAEGAN(config) on in-memory random batches: warm-up
steps, then the median of timed steps; with the recipe's least work per image (flops.py) and what
the traced step executes, the achieved GFLOP/s against this process's own matmul peak for the
precision (`utilization`), and peak memory. side_by_side times every --step × precision and the
paper-literal recipe's default step in turns in one process (the peak is measured once per dtype).
peak_matmul_gflops: chained square matmuls in the precision's compute dtype, on the device
training uses.
input_pipeline_throughput: images/s of the training pipeline decoding JPEG files every epoch
(--cache=none) and reading the preprocessed crops from the file cache's arrays (--cache=file).
training_with_pipeline: training images/s fed by the real pipeline against the same model fed
the same batches from in-memory tensors; the input pipeline's cost is the gap between them.
run_benchmark measures all of them and merges them into WORKDIR/benchmark.json.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import resource
import statistics
import tempfile
import time
from typing import Any, NamedTuple

import keras
import tensorflow as tf

from vaegan_tf import data, flops
from vaegan_tf.config import Config
from vaegan_tf.errors import ConfigError

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


def _check_counts(steps: int, warmup: int, peak_size: int = 0) -> None:
    if steps < 1:
        raise ConfigError(f"--benchmark_steps: must be >= 1; got {steps}")
    if warmup < 1:  # the first call traces and compiles: never a timed step
        raise ConfigError(f"--benchmark_warmup: must be >= 1; got {warmup}")
    if peak_size < 0:
        raise ConfigError(f"--benchmark_matmul_size: must be >= 0 (0 = the device's default); "
                          f"got {peak_size}")


class _Step(NamedTuple):
    """A compiled train step of VAEGAN(config) ready to time, and what its graph executes."""
    config: Config
    call: Any  # batch -> logs
    batches: list
    executed_flops: int


def _prepare(config: Config, count: int) -> _Step:
    from vaegan_tf.model import VAEGAN

    keras.utils.set_random_seed(config.seed)
    model = VAEGAN(config)  # builds its networks under config.compute_precision's policy
    model.compile()
    step = tf.function(model.train_step, jit_compile=config.jit_compile)
    batches = random_batches(config, count)
    executed = flops.executed_flops(step.get_concrete_function(batches[0]).graph)
    return _Step(config, step, batches, executed)


def _timed(step: _Step, i: int) -> tuple[float, dict]:
    """Seconds of the step on its i-th batch (in turn), ending when its metrics are fetched."""
    start = time.perf_counter()
    logs = {k: float(v) for k, v in step.call(step.batches[i % len(step.batches)]).items()}
    return time.perf_counter() - start, logs


def _figures(step: _Step, times: list[float], peak: float) -> dict[str, float]:
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
    _check_counts(steps, warmup, peak_size)
    config = config.replace(precision=config.compute_precision)  # report what ran, not "auto"
    device = training_device()
    with tf.device(device):
        _reset_peak_memory(device)
        step = _prepare(config, min(steps + warmup, 4))
        times, logs = [], {}
        for i in range(warmup + steps):
            seconds, logs = _timed(step, i)
            if i >= warmup:
                times.append(seconds)
        peak_memory = _peak_memory_mb(device)
    peak = peak_matmul_gflops(COMPUTE_DTYPE[config.precision], peak_size)
    return {
        "model": config.model, "precision": config.precision, "step": config.step,
        "jit_compile": config.jit_compile, "batch_size": config.batch_size,
        "device": device.strip("/"), **_figures(step, times, peak),
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

    from vaegan_tf.model import VAEGAN

    _check_counts(steps, warmup)
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


def _images_per_second(dataset: tf.data.Dataset, batches: int, batch_size: int) -> float:
    iterator = iter(dataset)
    for _ in range(3):  # warm-up: thread pools, autotuning, file cache opening
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def input_pipeline_throughput(config: Config, batches: int = 50, index=None,
                              cache_dir: str | None = None) -> dict[str, float]:
    """Training-pipeline images/s from JPEG files and from the file cache (built first)."""
    index = index if index is not None else data.load_index(config)
    with tempfile.TemporaryDirectory() as tmp:
        cached = config.replace(cache="file", cache_dir=cache_dir or config.cache_dir or tmp)
        start = time.perf_counter()
        from_cache = data.make_dataset(cached, "train", training=True, index=index)
        build_s = time.perf_counter() - start
        result = {
            "input_img_per_s_jpeg": _images_per_second(
                data.make_dataset(config.replace(cache="none"), "train", True, index=index),
                batches, config.batch_size),
            "input_img_per_s_cache": _images_per_second(from_cache, batches, config.batch_size),
            "input_cache_build_s": build_s,
        }
    return result


class _TrainingWindow(keras.callbacks.Callback):
    """Seconds from fit's first step to its last. fit's own exit is left out: here it sometimes
    lingered ~5 s after the last step (Keras 3.15), which would swamp a short run."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.start


def training_with_pipeline(config: Config, steps: int = 5, index=None) -> dict[str, float]:
    """Training images/s fed by make_dataset(config) vs by in-memory tensors, in one process."""
    from vaegan_tf.model import VAEGAN

    index = index if index is not None else data.load_index(config)
    pipeline = data.make_dataset(config, "train", training=True, index=index)
    # The same number of distinct batches, already in memory as tensors.
    held = list(pipeline.take(min(steps, 20)))
    in_memory = tf.data.Dataset.from_tensor_slices(
        tuple(tf.stack(parts) for parts in zip(*held))).repeat()
    keras.utils.set_random_seed(config.seed)
    model = VAEGAN(config)
    per_call = config.steps_per_execution
    model.compile(steps_per_execution=per_call)  # as training runs it
    steps = -(-steps // per_call) * per_call  # whole calls: Keras runs a call's steps in full

    def rate(dataset: tf.data.Dataset) -> float:
        model.fit(dataset, epochs=1, steps_per_epoch=2 * per_call, verbose=0)  # trace, warm up
        window = _TrainingWindow()
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[window])
        return steps * config.batch_size / window.seconds

    # Alternate, so drift in the machine's speed hits both sides alike.
    memory = [rate(in_memory)]
    piped = [rate(pipeline)]
    memory.append(rate(in_memory))
    piped.append(rate(pipeline))
    memory_rate, pipeline_rate = max(memory), max(piped)
    return {"train_img_per_s_pipeline": pipeline_rate, "train_img_per_s_in_memory": memory_rate,
            "train_pipeline_vs_in_memory": pipeline_rate / memory_rate}


def write_results(results: dict[str, Any], workdir: str) -> str:
    """Merges `results` into WORKDIR/benchmark.json (other keys kept), atomically."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "benchmark.json")
    merged = {}
    if os.path.exists(path):
        try:
            with open(path) as f:
                merged = json.load(f)
        except (OSError, ValueError):
            merged = {}
    merged.update(results)
    with open(path + ".tmp", "w") as f:
        json.dump(merged, f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)
    return path


# The paper read literally (celeba_paper.flags), where its step differs from the authors' recipe
# that Config's defaults follow: "today's default paper-literal step" of the comparison.
PAPER_LITERAL = dict(dis_passes="one", llike_stop_target=False, dec_batch="joint",
                     gan_fakes="both", gan_loss="non_saturating", gan_eps=0.0,
                     real_vs_gen_weight=1 / 3, equilibrium_gate=False, init="glorot", gamma=1e-5,
                     rmsprop_eps="inside_sqrt", rmsprop_epsilon=1e-7, lr_schedule="constant",
                     learning_rate=3e-4)


def compared_variants(config: Config) -> dict[str, Config]:
    """{name: config}: the config under every --step and precision this device runs well, itself
    first, then the paper-literal recipe's default step in float32 ('paper_literal:fused/float32')."""
    precisions = ["float32", "mixed_bfloat16"]
    if "GPU" in training_device():
        precisions.append("mixed_float16")  # float16 convolutions are slow on CPUs
    config = config.replace(precision=config.compute_precision)
    variants = {f"{config.step}/{config.precision}": config}
    for p in precisions:
        for s in ("fused", "three_tape"):
            variants.setdefault(f"{s}/{p}", config.replace(step=s, precision=p))
    variants["paper_literal:fused/float32"] = config.replace(
        **PAPER_LITERAL, step="fused", precision="float32")
    return variants


def side_by_side(config: Config, steps: int, warmup: int, peak_size: int = 0) -> dict[str, Any]:
    """Every compared variant timed in this one process, and the speed ratios against float32
    three_tape (the straightforward step) and against the paper-literal recipe's default step.

    The variants are timed in turns, one step each per round, so that a change in the
    machine's speed (another job on its cores) slows them all alike.
    """
    _check_counts(steps, warmup, peak_size)
    with tf.device(training_device()):
        prepared = {name: _prepare(c, min(steps + warmup, 4))
                    for name, c in compared_variants(config).items()}
        times = {name: [] for name in prepared}
        for i in range(warmup + steps):
            for name, step in prepared.items():
                seconds, _ = _timed(step, i)
                if i >= warmup:
                    times[name].append(seconds)
    rows = {}
    for name, step in prepared.items():
        peak = peak_matmul_gflops(COMPUTE_DTYPE[step.config.precision], peak_size)
        rows[name] = _figures(step, times[name], peak)
    for row in rows.values():
        row["speedup"] = row["train_img_per_s"] / rows["three_tape/float32"]["train_img_per_s"]
        row["speedup_vs_paper_literal"] = (
            row["train_img_per_s"] / rows["paper_literal:fused/float32"]["train_img_per_s"])
    return rows


def run_benchmark(config: Config, workdir: str, steps: int = 5, warmup: int = 2,
                  peak_size: int = 0, compare: bool = False, profile: bool = False) -> dict[str, Any]:
    """Measures everything above, writes WORKDIR/benchmark.json and prints a table.

    `steps` timed training steps (after `warmup`) for time_train_step and per rate in
    training_with_pipeline; `peak_size` is the matmul side (0: the device's default).
    compare: also time every --step × precision (side_by_side) into results["side_by_side"].
    profile: also trace two steps into WORKDIR/profile and record seconds per op type.
    """
    from vaegan_tf import train

    _check_counts(steps, warmup, peak_size)
    config = train.resolve_config(config, workdir)
    index = data.load_index(config)  # before anything is timed: missing data stops here
    # The step first, before the pipelines' threads exist to compete with it.
    results = time_train_step(config, steps=steps, warmup=warmup, peak_size=peak_size)
    comparison = side_by_side(config, steps, warmup, peak_size) if compare else None
    ops = profile_step(config, os.path.join(workdir, "profile"), warmup=warmup) if profile else None
    results.update(input_pipeline_throughput(config, index=index))
    results.update(training_with_pipeline(config, steps=steps, index=index))
    # Seconds the pipeline needs per batch, over seconds per training step: its cost if it ran
    # on the training's own cores instead of overlapping with them.
    source = "jpeg" if config.cache == "none" else "cache"
    input_rate = results[f"input_img_per_s_{source}"]
    results["input_fraction_of_step"] = results["train_img_per_s"] / input_rate
    if comparison:
        results["side_by_side"] = comparison
    if ops:
        results["profile_s_per_step"] = ops
    write_results(results, workdir)
    print(flops.format_breakdown(flops.train_flops(config)))
    print(format_table({k: v for k, v in results.items() if not isinstance(v, dict)}))
    if comparison:
        print(format_comparison(comparison))
    if ops:
        print(format_profile(ops))
    return results


def format_comparison(rows: dict[str, dict[str, float]]) -> str:
    columns = ["step_s", "train_img_per_s", "speedup", "speedup_vs_paper_literal",
               "gflop_per_img", "executed_gflop_per_img", "utilization", "kernel_utilization"]
    heads = ["step_s", "img/s", "vs 3tape", "vs paper", "least GF", "exec GF", "util", "kern util"]
    lines = [f"{'step/precision':<30}" + "".join(f"{h:>10}" for h in heads)]
    lines += [f"{name:<30}" + "".join(f"{row[c]:>10.3f}" for c in columns)
              for name, row in rows.items()]
    return "\n".join(lines)


def format_table(results: dict[str, Any]) -> str:
    width = max(len(k) for k in results)
    return "\n".join(f"{k:<{width}}  {v:10.3f}" if isinstance(v, float)
                     else f"{k:<{width}}  {v!s:>10}" for k, v in results.items())
