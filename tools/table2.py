"""The paper's Table 2 on the synthetic faces, over training seeds: one command for the whole table.

    python tools/table2.py [--out=runs/table2] [--seeds=0,1,2] [--models=vaegan,vae,gan]
                           [--jobs=1] [-- FLAGS]

For each seed and model it trains `run.py --flagfile=conditional_demo.flags --model=M --seed=S`
into OUT/M_sS, evaluates it with `--mode=evaluate --protocol=table2` and draws its pictures
(`--mode=sample`, with the attribute-switch grid). --seed also redraws the synthetic faces
(OUT/data_sS), so each seed has its own data and its own attribute regressor (OUT/regressor_sS),
shared by the models of that seed. FLAGS after `--` go to every training run (e.g.
--dec_conditioning=input). --jobs=N trains N runs at a time, each on cores/N TensorFlow threads
(small convolutions use two cores poorly: two one-thread runs train 1.2x faster than two runs one
after the other); the evaluations follow one at a time. A run already trained is resumed (run.py
finishes at once), and one evaluated at its final step (or pictured) is not evaluated (or
pictured) again, so the command can be rerun after an interruption. At the end it writes
OUT/table2.md (the table, mean ± std over the seeds, and the per-attribute accuracies) and
OUT/table2.jsonl (every record), and prints the table and the wall time of each step.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # run from a clone without installing too

from vaegan_tf.config import flat_values  # noqa: E402
from vaegan_tf.data.synthetic import MANIFEST_FILE  # noqa: E402
from vaegan_tf.evaluation import table2_report  # noqa: E402
from vaegan_tf.files import read_json, write_text  # noqa: E402


def _run(args: list[str], log: list[str], threads: int = 0, data_lock=None,
         data_dir: str = "") -> None:
    """run.py with args; with data_lock, no other run of the lock's seed starts until this one
    has drawn the seed's synthetic faces into data_dir (runs in parallel must not draw them twice)."""
    start = time.monotonic()
    command = [sys.executable, os.path.join(ROOT, "run.py"), *args]
    env = dict(os.environ)
    if threads:
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1")
    if data_lock is None:
        result = subprocess.run(command, cwd=ROOT, env=env)
    else:
        with data_lock:
            process = subprocess.Popen(command, cwd=ROOT, env=env)
            while process.poll() is None and not os.path.exists(
                    os.path.join(data_dir, MANIFEST_FILE)):
                time.sleep(1)
        process.wait()
        result = process
    seconds = time.monotonic() - start
    log.append(f"{seconds:7.0f} s  run.py {' '.join(args)}")
    print(log[-1], flush=True)
    if result.returncode:
        sys.exit(f"error: run.py {' '.join(args)} exited with {result.returncode}")


def table2_record(workdir: str, step: int | None = None) -> dict | None:
    """The newest --protocol=table2 record of a run's metrics.jsonl at `step` (any step: None);
    None if there is none. An evaluation of an earlier --checkpoint is never taken for the run's."""
    try:
        with open(os.path.join(workdir, "metrics.jsonl")) as f:
            records = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return None
    records = [r for r in records if r.get("protocol") == "table2"
               and (step is None or r.get("step") == step)]
    return records[-1] if records else None


def _finished_step(workdir: str) -> int:
    return flat_values(read_json(os.path.join(workdir, "config.json")))["train_steps"]


def _switch_grid(workdir: str) -> str:
    """The attribute-switch grid --mode=sample writes for the run's final step."""
    return os.path.join(workdir, "samples", f"attribute_switches_{_finished_step(workdir):07d}.png")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/table2")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", default="vaegan,vae,gan")
    parser.add_argument("--jobs", type=int, default=1, help="training runs at a time")
    parser.add_argument("flags", nargs="*", help="after --: flags for every training run")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    models = args.models.split(",")
    out = os.path.abspath(args.out)
    log: list[str] = []
    start = time.monotonic()
    # Model by model, so with the default order the longest runs start first.
    runs = [(model, seed) for model in models for seed in seeds]
    shared = {seed: [f"--data_dir={out}/data_s{seed}", f"--regressor_dir={out}/regressor_s{seed}",
                     f"--classifier_dir={out}/classifier_s{seed}"] for seed in seeds}
    workdir = {(model, seed): f"{out}/{model}_s{seed}" for model, seed in runs}
    threads = max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else 0
    locks = {seed: threading.Lock() for seed in seeds}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        trainings = [pool.submit(_run, ["--flagfile=conditional_demo.flags", f"--model={m}",
                                        f"--seed={s}", f"--workdir={workdir[m, s]}", *shared[s],
                                        *args.flags], log, threads, locks[s], f"{out}/data_s{s}")
                     for m, s in runs]
        for t in trainings:
            t.result()
    records = []
    for model, seed in sorted(runs, key=lambda r: (r[1], models.index(r[0]))):
        run, step = workdir[model, seed], _finished_step(workdir[model, seed])
        # What a rerun after an interruption finds done is kept.
        if table2_record(run, step) is None:
            _run(["--mode=evaluate", "--protocol=table2", f"--workdir={run}", *shared[seed]], log)
        if not os.path.exists(_switch_grid(run)):
            _run(["--mode=sample", f"--workdir={run}", *shared[seed]], log)
        record = table2_record(run, step)
        if record is None:
            sys.exit(f"error: {run}/metrics.jsonl has no --protocol=table2 record at step {step}")
        records.append(record)
    write_text(os.path.join(out, "table2.jsonl"), "".join(json.dumps(r) + "\n" for r in records))
    text = "\n\n".join([table2_report.markdown_over_runs(records),
                        table2_report.markdown_per_attribute(records)])
    write_text(os.path.join(out, "table2.md"), text + "\n")
    print(text)
    print("\n".join(log))
    print(f"total wall time: {(time.monotonic() - start) / 60:.1f} min")


if __name__ == "__main__":
    main(sys.argv[1:])
