"""`--mode=benchmark`: how fast training, the input pipeline and the machine's matmuls run.

The train step's speed against the matmul peak, and its profile: timing.py.
input_pipeline_throughput: images/s of the training pipeline decoding JPEG files on every pass
(--cache=none) and reading the preprocessed crops from the file cache's arrays (--cache=file).
training_with_pipeline: training images/s fed by the real pipeline against the same model fed
the same batches from in-memory tensors; the input pipeline's cost is the gap between them.
preemption_cost.py: what the multi-worker preemption check adds to a training step.
benchmark_mode measures all of them and merges them into WORKDIR/benchmark.json.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import keras
import tensorflow as tf

from vaegan_tf import data
from vaegan_tf.config import Config
from vaegan_tf.files import read_json, write_json
from vaegan_tf.perf import flops, preemption_cost, timing
from vaegan_tf.workdir import Workdir


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
    from vaegan_tf.model.vaegan import VAEGAN

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


def write_results(results: dict[str, Any], workdir: str | Workdir) -> str:
    """Merges `results` into WORKDIR/benchmark.json (other keys kept), atomically."""
    path = Workdir.of(workdir).benchmark
    merged = read_json(path)
    merged = merged if isinstance(merged, dict) else {}
    merged.update(results)
    write_json(path, merged)
    return path


# The paper read literally (celeba_paper.flags), where its step differs from the authors' recipe
# that Config's defaults follow: "today's default paper-literal step" of the comparison.
PAPER_LITERAL = dict(dis_passes="one", llike_stop_target=False, dec_batch="joint",
                     gan_fakes="both", gan_loss="non_saturating", gan_eps=0.0,
                     real_vs_gen_weight=1 / 3, equilibrium_gate=False, init="glorot", gamma=1e-5,
                     rmsprop_epsilon_at="inside_sqrt", rmsprop_epsilon=1e-7, lr_schedule="constant",
                     learning_rate=3e-4, dec_conditioning="input", dis_conditioning="fc")


def compared_variants(config: Config) -> dict[str, Config]:
    """{name: config}: the config under every --gradients and precision this device runs well, itself
    first, then the paper-literal recipe's default step in float32 ('paper_literal:fused/float32').
    A conditional config adds itself unconditional ('unconditional:...') and with the paper's
    conditioning ('paper_conditioning:...'), what side_by_side's step_vs_unconditional compares."""
    precisions = ["float32", "mixed_bfloat16"]
    if "GPU" in timing.training_device():
        precisions.append("mixed_float16")  # float16 convolutions are slow on CPUs
    config = config.replace(precision=config.compute_precision)
    variants = {f"{config.gradients}/{config.precision}": config}
    for p in precisions:
        for s in ("fused", "three_tape"):
            variants.setdefault(f"{s}/{p}", config.replace(gradients=s, precision=p))
    variants["paper_literal:fused/float32"] = config.replace(
        **PAPER_LITERAL, gradients="fused", precision="float32")
    if config.conditional:
        own = f"{config.gradients}/{config.precision}"
        variants[f"unconditional:{own}"] = config.replace(conditional=False)
        variants[f"paper_conditioning:{own}"] = config.replace(dec_conditioning="input",
                                                                dis_conditioning="fc")
    return variants


def side_by_side(config: Config, steps: int, warmup: int, peak_size: int = 0) -> dict[str, Any]:
    """Every compared variant timed in this one process, and the speed ratios against float32
    three_tape (the straightforward step) and against the paper-literal recipe's default step.

    The variants are timed in turns, one step each per round, so that a change in the
    machine's speed (another job on its cores) slows them all alike.
    """
    timing.check_counts(steps, warmup, peak_size)
    with tf.device(timing.training_device()):
        prepared = {name: timing.prepare(c, min(steps + warmup, 4))
                    for name, c in compared_variants(config).items()}
        times = {name: [] for name in prepared}
        for i in range(warmup + steps):
            for name, step in prepared.items():
                seconds, _ = timing.timed(step, i)
                if i >= warmup:
                    times[name].append(seconds)
    rows = {}
    for name, step in prepared.items():
        peak = timing.peak_matmul_gflops(timing.COMPUTE_DTYPE[step.config.precision], peak_size)
        rows[name] = timing.figures(step, times[name], peak)
    for row in rows.values():
        row["speedup"] = row["train_img_per_s"] / rows["three_tape/float32"]["train_img_per_s"]
        row["speedup_vs_paper_literal"] = (
            row["train_img_per_s"] / rows["paper_literal:fused/float32"]["train_img_per_s"])
    unconditional = [name for name in rows if name.startswith("unconditional:")]
    if unconditional:  # the config's own step, conditional, against itself unconditional
        own = unconditional[0].split(":", 1)[1]
        for name in (own, f"paper_conditioning:{own}"):
            rows[name]["step_vs_unconditional"] = (rows[name]["step_s"]
                                                   / rows[unconditional[0]]["step_s"])
    return rows


def benchmark_mode(config: Config, workdir: str | Workdir, steps: int = 5, warmup: int = 2,
                   peak_size: int = 0, compare: bool = False, profile: bool = False) -> dict[str, Any]:
    """Measures everything above, writes WORKDIR/benchmark.json and prints a table.

    `steps` timed training steps (after `warmup`) for timing.time_train_step and per rate in
    training_with_pipeline; `peak_size` is the matmul side (0: the device's default).
    compare: also time every --gradients × precision (side_by_side) into results["side_by_side"].
    profile: also trace two steps into WORKDIR/profile and record seconds per op type.
    """
    from vaegan_tf.training import train

    timing.check_counts(steps, warmup, peak_size)
    run = Workdir.of(workdir)
    config = train.resolve_config(config, run)
    index = data.load_index(config)  # before anything is timed: missing data stops here
    # The step first, before the pipelines' threads exist to compete with it.
    results = timing.time_train_step(config, steps=steps, warmup=warmup, peak_size=peak_size)
    comparison = side_by_side(config, steps, warmup, peak_size) if compare else None
    ops = timing.profile_step(config, run.profile, warmup=warmup) if profile else None
    results.update(input_pipeline_throughput(config, index=index))
    results.update(training_with_pipeline(config, steps=steps, index=index))
    # What --strategy=multi_worker's preemption check adds to a step (docs/faults.md).
    results.update(preemption_cost.preemption_check_cost(config, steps=max(steps, 20)))
    # Seconds the pipeline needs per batch, over seconds per training step: its cost if it ran
    # on the training's own cores instead of overlapping with them.
    source = "jpeg" if config.cache == "none" else "cache"
    input_rate = results[f"input_img_per_s_{source}"]
    results["input_fraction_of_step"] = results["train_img_per_s"] / input_rate
    if comparison:
        results["side_by_side"] = comparison
    if ops:
        results["profile_s_per_step"] = ops
    write_results(results, run)
    print(flops.format_breakdown(flops.train_flops(config)))
    print(format_table({k: v for k, v in results.items() if not isinstance(v, dict)}))
    if comparison:
        print(format_comparison(comparison))
    if ops:
        print(timing.format_profile(ops))
    return results


def format_comparison(rows: dict[str, dict[str, float]]) -> str:
    columns = ["step_s", "train_img_per_s", "speedup", "speedup_vs_paper_literal",
               "gflop_per_img", "executed_gflop_per_img", "utilization", "kernel_utilization"]
    heads = ["step_s", "img/s", "vs 3tape", "vs paper", "least GF", "exec GF", "util", "kern util"]
    lines = [f"{'step/precision':<34}" + "".join(f"{h:>10}" for h in heads)]
    lines += [f"{name:<34}" + "".join(f"{row[c]:>10.3f}" for c in columns)
              for name, row in rows.items()]
    lines += [f"{name}: a step costs {row['step_vs_unconditional']:.3f}x the unconditional one"
              for name, row in rows.items() if "step_vs_unconditional" in row]
    return "\n".join(lines)


def format_table(results: dict[str, Any]) -> str:
    width = max(len(k) for k in results)
    # Small figures (a check's seconds per step) in exponent form rather than as 0.000.
    return "\n".join(f"{k:<{width}}  {v:10.3f}" if isinstance(v, float) and (abs(v) >= 0.01 or not v)
                     else f"{k:<{width}}  {v:10.2e}" if isinstance(v, float)
                     else f"{k:<{width}}  {v!s:>10}" for k, v in results.items())
