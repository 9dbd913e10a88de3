"""Prints a Markdown table of the last --mode=evaluate record of each run.

    python docs/metrics_table.py LABEL=WORKDIR [LABEL=WORKDIR ...]

Columns: the metrics the README's demo tables report (vaegan_tf/evaluate.py defines them).
"""

import json
import os
import sys

COLUMNS = ("fd_attr_samples", "kid_attr_samples", "sharpness_samples", "fd_attr_recon",
           "kid_attr_recon", "sharpness_recon", "pixel_mse", "knn_dis_error", "knn_pixel_error")


def last_record(workdir: str) -> dict:
    path = os.path.join(workdir, "metrics.jsonl")
    try:
        with open(path) as f:
            lines = [line for line in f if line.strip()]
    except OSError as e:
        sys.exit(f"error: cannot read {path} ({e}); run --mode=evaluate on {workdir} first")
    if not lines:
        sys.exit(f"error: {path} is empty; run --mode=evaluate on {workdir} first")
    return json.loads(lines[-1])


def _cell(value) -> str:
    return "—" if value is None else f"{value:.4g}"


def table(runs: list[tuple[str, str]]) -> str:
    rows = ["| run | " + " | ".join(f"`{c}`" for c in COLUMNS) + " |",
            "|---|" + "---:|" * len(COLUMNS)]
    for label, workdir in runs:
        record = last_record(workdir)
        rows.append(f"| {label} | " + " | ".join(_cell(record.get(c)) for c in COLUMNS) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) < 2 or any("=" not in a for a in sys.argv[1:]):
        sys.exit(__doc__)
    print(table([tuple(a.rsplit("=", 1)) for a in sys.argv[1:]]))  # labels may hold "="
