"""`--mode=benchmark`: how fast the input pipeline and training run on this machine.

input_pipeline_throughput: images/s of the training pipeline decoding JPEG files every epoch
(--cache=none) and reading the preprocessed crops from the TFRecord cache (--cache=file).
training_with_pipeline: training images/s fed by the real pipeline against the same model fed
the same batches from in-memory tensors; the input pipeline's cost is the gap between them.
run_benchmark writes both to WORKDIR/benchmark.json (the speed issue adds its keys beside these).
"""

from __future__ import annotations

import json
import os
import tempfile
import time

import tensorflow as tf

from vaegan_tf import data
from vaegan_tf.config import Config


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


def training_with_pipeline(config: Config, steps: int = 200, index=None) -> dict[str, float]:
    """Training images/s fed by make_dataset(config) vs by in-memory tensors, in one process."""
    import keras

    from vaegan_tf.model import VAEGAN

    index = index if index is not None else data.load_index(config)
    pipeline = data.make_dataset(config, "train", training=True, index=index)
    # The same number of distinct batches, already in memory as tensors.
    held = list(pipeline.take(min(steps, 20)))
    in_memory = tf.data.Dataset.from_tensor_slices(
        tuple(tf.stack(parts) for parts in zip(*held))).repeat()
    keras.utils.set_random_seed(config.seed)
    model = VAEGAN(config)
    model.compile()

    def rate(dataset: tf.data.Dataset) -> float:
        model.fit(dataset, epochs=1, steps_per_epoch=10, verbose=0)  # trace and warm up
        start = time.perf_counter()
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        return steps * config.batch_size / (time.perf_counter() - start)

    # Alternate, so drift in the machine's speed hits both sides alike.
    memory = [rate(in_memory)]
    piped = [rate(pipeline)]
    memory.append(rate(in_memory))
    piped.append(rate(pipeline))
    memory_rate, pipeline_rate = max(memory), max(piped)
    return {"train_img_per_s_pipeline": pipeline_rate, "train_img_per_s_in_memory": memory_rate,
            "train_pipeline_vs_in_memory": pipeline_rate / memory_rate}


def run_benchmark(config: Config, workdir: str, steps: int = 100) -> dict[str, float]:
    """Measures both, writes WORKDIR/benchmark.json (merging other keys) and prints a table."""
    from vaegan_tf import train

    config = train.resolve_config(config, workdir)
    index = data.load_index(config)
    results = input_pipeline_throughput(config, index=index)
    results.update(training_with_pipeline(config, steps=steps, index=index))
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
    print(format_table(results))
    return results


def format_table(results: dict[str, float]) -> str:
    width = max(len(k) for k in results)
    return "\n".join(f"{k:<{width}}  {v:10.3f}" for k, v in results.items())
