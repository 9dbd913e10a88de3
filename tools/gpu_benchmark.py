"""The train step on a GPU at Table 1 widths: every precision, with and without XLA, in one JSON.

    python tools/gpu_benchmark.py --out gpu_benchmark.json

times, for batch 64 and 256 × float32 / mixed_float16 / mixed_bfloat16 × XLA off and on, the
compiled train step of the authors' recipe (Config's defaults, --gradients=fused) with
timing.time_train_step, the same measurement as `--mode=benchmark`'s step keys
(train_img_per_s, gflop_per_img, executed_gflop_per_img, utilization, kernel_utilization,
peak_memory_mb, ...), each against the matmul peak of its own compute dtype. `--recipes=
authors,paper_literal` adds the paper-literal recipe (benchmark.PAPER_LITERAL) for the ratio
between them. The JSON is rewritten after every measurement, so a run cut short keeps what it
measured; a combination that fails records its error and the rest go on.

Why a script and not --mode=benchmark: that mode times one config plus the CPU-sized
comparison, and its input-pipeline half needs a dataset; this is the step alone over the grid a
GPU report needs. --smoke runs the grid at 1/8 of the widths and 32×32 on whatever device there
is, to check the script without a GPU.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # vaegan_tf comes from `pip install -e .`

import tensorflow as tf  # noqa: E402

from vaegan_tf.config import Config  # noqa: E402
from vaegan_tf.perf import benchmark, timing  # noqa: E402

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
RECIPES = {"authors": {}, "paper_literal": benchmark.PAPER_LITERAL}
SMOKE = dict(enc_width=8, dec_width=4, dis_width=4, fc_width=32, latent_dim=8, image_size=32)


def environment() -> dict:
    gpus = tf.config.list_physical_devices("GPU")
    build = tf.sysconfig.get_build_info()
    return {"tensorflow": tf.__version__, "python": platform.python_version(),
            "device": timing.training_device(),
            "gpus": [tf.config.experimental.get_device_details(g).get("device_name", g.name)
                     for g in gpus],
            "cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="gpu_benchmark.json")
    parser.add_argument("--batch_sizes", default="64,256")
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument("--recipes", default="authors", help="authors, paper_literal or both")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (median)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--smoke", action="store_true", help="tiny widths: check the script")
    args = parser.parse_args(argv)
    if not tf.config.list_physical_devices("GPU") and not args.smoke:
        print("no GPU visible to TensorFlow (see BUILD.md, GPU); --smoke checks the script on a "
              "CPU", file=sys.stderr)
        return 2
    report = {"environment": environment(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "steps": args.steps, "warmup": args.warmup, "smoke": args.smoke, "results": []}
    grid = itertools.product(args.recipes.split(","), map(int, args.batch_sizes.split(",")),
                             args.precisions.split(","), (False, True))
    for recipe, batch, precision, xla in grid:
        config = Config(**RECIPES[recipe], **(SMOKE if args.smoke else {}), batch_size=batch,
                        precision=precision, jit_compile=xla, dataset="synthetic")
        row = {"recipe": recipe, "batch_size": batch, "precision": precision, "xla": xla}
        start = time.perf_counter()
        try:
            row.update(timing.time_train_step(config, steps=args.steps, warmup=args.warmup))
        except Exception as e:  # one combination failing (e.g. XLA) must not lose the others
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        row["wall_s"] = time.perf_counter() - start
        report["results"].append(row)
        with open(args.out + ".tmp", "w") as f:
            json.dump(report, f, indent=2)
        os.replace(args.out + ".tmp", args.out)
        speed = (f"{row['train_img_per_s']:9.1f} img/s  util {row['utilization']:.2f}"
                 if "train_img_per_s" in row else row["error"])
        print(f"{recipe:<14}{batch:>5}  {precision:<15}{'xla' if xla else '   '}  {speed}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
