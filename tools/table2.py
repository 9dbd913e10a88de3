"""The paper's Table 2 on the synthetic faces, over training seeds: one command for the whole table.

    python tools/table2.py [--out=runs/table2] [--seeds=0,1,2] [--models=vaegan,vae,gan] [-- FLAGS]

For each seed and model it trains `run.py --flagfile=conditional_demo.flags --model=M --seed=S`
into OUT/M_sS, evaluates it with `--mode=evaluate --protocol=table2` and draws its pictures
(`--mode=sample`, with the attribute-switch grid). --seed also redraws the synthetic faces
(OUT/data_sS), so each seed has its own data and its own attribute regressor (OUT/regressor_sS),
shared by the models of that seed. FLAGS after `--` go to every training run (e.g.
--dec_conditioning=input). A run already trained is resumed (run.py finishes at once), so the
command can be rerun after an interruption. At the end it writes OUT/table2.md (the table, mean ±
std over the seeds, and the per-attribute accuracies) and OUT/table2.jsonl (every record), and
prints the table and the wall time of each step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # run from a clone without installing too

from vaegan_tf.evaluation import table2_report  # noqa: E402


def _run(args: list[str], log: list[str]) -> None:
    start = time.monotonic()
    command = [sys.executable, os.path.join(ROOT, "run.py"), *args]
    result = subprocess.run(command, cwd=ROOT)
    seconds = time.monotonic() - start
    log.append(f"{seconds:7.0f} s  run.py {' '.join(args)}")
    print(log[-1], flush=True)
    if result.returncode:
        sys.exit(f"error: run.py {' '.join(args)} exited with {result.returncode}")


def last_table2(workdir: str) -> dict:
    """The newest --protocol=table2 record of a run's metrics.jsonl."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    records = [r for r in records if r.get("protocol") == "table2"]
    if not records:
        sys.exit(f"error: {workdir}/metrics.jsonl has no --protocol=table2 record")
    return records[-1]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/table2")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", default="vaegan,vae,gan")
    parser.add_argument("flags", nargs="*", help="after --: flags for every training run")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    models = args.models.split(",")
    out = os.path.abspath(args.out)
    log: list[str] = []
    start = time.monotonic()
    records = []
    for seed in seeds:
        shared = [f"--data_dir={out}/data_s{seed}", f"--regressor_dir={out}/regressor_s{seed}",
                  f"--classifier_dir={out}/classifier_s{seed}"]
        for model in models:
            workdir = f"{out}/{model}_s{seed}"
            _run(["--flagfile=conditional_demo.flags", f"--model={model}", f"--seed={seed}",
                  f"--workdir={workdir}", *shared, *args.flags], log)
            _run(["--mode=evaluate", "--protocol=table2", f"--workdir={workdir}", *shared], log)
            _run(["--mode=sample", f"--workdir={workdir}", *shared], log)
            records.append(last_table2(workdir))
    with open(os.path.join(out, "table2.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    text = "\n\n".join([table2_report.markdown_over_runs(records),
                        table2_report.markdown_per_attribute(records)])
    with open(os.path.join(out, "table2.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    print("\n".join(log))
    print(f"total wall time: {(time.monotonic() - start) / 60:.1f} min")


if __name__ == "__main__":
    main(sys.argv[1:])
