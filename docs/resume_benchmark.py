"""Time from process start to the end of the first trained step, resuming at step 1 and at step
50,000 (and starting fresh), on a 200,000-image CelebA-layout folder, with --cache=file and
--cache=none. The target: the two resumed times within 10% of each other.

    python docs/resume_benchmark.py [--root=/tmp/celeba200k] [--out=docs/resume_benchmark.json]

The folder is generated: 200,000 names in CelebA's official layout (attribute and partition
files included) that are hard links to 64 distinct JPEGs, so only the images a run reads are
decoded. A resumed run starts from a checkpoint whose step was set to 50,000; each timed run
trains one step (--train_steps=start+1) and ends as every run does (checkpoint, validation on
one batch, export), the same tail for every start; times are medians of --repeats runs. The file cache is built once first (timed
separately): it is what later runs map.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES, DISTINCT, ATTRIBUTES, RESUME_AT = 200_000, 64, 40, 50_000
FLAGS = ["--dataset=celeba", "--image_size=64", "--batch_size=64", "--enc_width=4",
         "--dec_width=2", "--dis_width=2", "--fc_width=16", "--latent_dim=8", "--log_every=1",
         "--eval_every=1000000", "--image_every=1000000", "--checkpoint_every=1000000",
         "--eval_batches=1", "--verbose=0"]


def write_folder(root: str) -> None:
    """CelebA's official layout with IMAGES names linked to DISTINCT JPEGs (skipped if done)."""
    done = os.path.join(root, "list_eval_partition.txt")
    if os.path.exists(done):
        return
    images = os.path.join(root, "img_align_celeba")
    os.makedirs(images, exist_ok=True)
    rng = np.random.default_rng(0)
    sources = []
    for k in range(DISTINCT):
        path = os.path.join(root, f"source_{k:02d}.jpg")
        pixels = rng.integers(0, 256, (218 // 8, 178 // 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).resize((178, 218), Image.BILINEAR).save(path, quality=90)
        sources.append(path)
    names = [f"{i + 1:06d}.jpg" for i in range(IMAGES)]
    for i, name in enumerate(names):
        target = os.path.join(images, name)
        if not os.path.exists(target):
            os.link(sources[i % DISTINCT], target)
    signs = rng.choice(np.array(["-1", " 1"]), (IMAGES, ATTRIBUTES))
    with open(os.path.join(root, "list_attr_celeba.txt"), "w") as f:
        f.write(f"{IMAGES}\n" + " ".join(f"Attr_{a}" for a in range(ATTRIBUTES)) + " \n")
        f.writelines(f"{name} {' '.join(row)}\n" for name, row in zip(names, signs))
    # CelebA's proportions: about 81% train, 10% validation, 9% test.
    part = np.where(np.arange(IMAGES) < 0.81 * IMAGES, 0,
                    np.where(np.arange(IMAGES) < 0.91 * IMAGES, 1, 2))
    with open(done + ".tmp", "w") as f:
        f.writelines(f"{name} {p}\n" for name, p in zip(names, part))
    os.replace(done + ".tmp", done)


def run(workdir: str, *flags: str) -> float:
    """Seconds from launching run.py to its exit (it must succeed)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, os.path.join(ROOT, "run.py"),
                             f"--workdir={workdir}", *FLAGS, *flags],
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"run.py failed in {workdir}:\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def forge_resume_point(template: str, workdir: str, step: int) -> None:
    """A copy of `template`'s one-step run whose checkpoint says `step`."""
    import tensorflow as tf

    from vaegan_tf import run_record
    from vaegan_tf.model.vaegan import VAEGAN
    from vaegan_tf.training import checkpointing
    from vaegan_tf.workdir import Workdir
    shutil.copytree(template, workdir, ignore=shutil.ignore_patterns("export", "tensorboard"))
    config = run_record.load(Workdir(workdir))
    model = VAEGAN(config)
    model.compile()
    manager = checkpointing.make_manager(model, workdir, config)
    checkpointing.restore_latest(manager)
    model.step.assign(step)
    checkpointing.save(manager, model, step)
    assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith(f"-{step}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="/tmp/celeba200k")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "resume_benchmark.json"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    start = time.perf_counter()
    write_folder(os.path.join(args.root, "data"))
    result = {"images": IMAGES, "resume_at": RESUME_AT, "batch_size": 64,
              "folder_s": time.perf_counter() - start, "cpu_count": os.cpu_count()}
    data = f"--data_dir={os.path.join(args.root, 'data')}"
    for cache in ("file", "none"):
        cache_flags = [data, f"--cache={cache}", f"--cache_dir={os.path.join(args.root, 'cache')}"]
        runs = os.path.join(args.root, f"runs_{cache}")
        shutil.rmtree(runs, ignore_errors=True)
        template = os.path.join(runs, "template")
        # The first run builds the file cache (--cache=file); later ones only map it.
        result[f"{cache}_first_run_s"] = run(template, *cache_flags, "--train_steps=1")
        times = {"fresh": [], "resumed_early": [], "resumed": []}
        for r in range(args.repeats):
            times["fresh"].append(run(os.path.join(runs, f"fresh{r}"), *cache_flags,
                                      "--train_steps=1"))
            early = os.path.join(runs, f"early{r}")  # the template's own checkpoint, step 1
            shutil.copytree(template, early, ignore=shutil.ignore_patterns("export", "tensorboard"))
            times["resumed_early"].append(run(early, *cache_flags, "--train_steps=2"))
            resumed = os.path.join(runs, f"resumed{r}")
            forge_resume_point(template, resumed, RESUME_AT)
            times["resumed"].append(run(resumed, *cache_flags, f"--train_steps={RESUME_AT + 1}"))
        best = {k: float(np.median(v)) for k, v in times.items()}
        result[cache] = {**{f"{k}_s": v for k, v in best.items()},
                         "resumed_over_early": best["resumed"] / best["resumed_early"],
                         "resumed_over_fresh": best["resumed"] / best["fresh"], "all": times}
        print(f"--cache={cache}: fresh {best['fresh']:.1f} s, resumed at step 1 "
              f"{best['resumed_early']:.1f} s, at step {RESUME_AT:,} {best['resumed']:.1f} s "
              f"(ratio {best['resumed'] / best['resumed_early']:.3f})", flush=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
