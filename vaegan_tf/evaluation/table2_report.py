"""Table 2's records as text: one run's table (console, TensorBoard) and the table over training
runs (tools/table2.py, docs/evaluation.md), beside the paper's LFW numbers.

A record is what table2.protocol returns (with evaluate_table2's fields); `over_runs` takes one
record per trained model and gives mean ± population std over them, the paper's "±".
"""

from __future__ import annotations

import numpy as np

# Paper, Table 2 (LFW): (cosine similarity, mean squared error, its std over runs).
PAPER_LFW = (("test set", 0.9193, 14.20, None), ("VAE", 0.9030, 27.59, 1.42),
             ("GAN", 0.8892, 27.89, 3.07), ("VAE/GAN", 0.9114, 22.39, 1.16))
# The numbers of a row: (record key, column title, decimals).
COLUMNS = (("cosine", "cosine, best of K", 4), ("mse", "mean squared error", 2),
           ("cosine_mean", "cosine, each face", 4), ("accuracy", "attribute accuracy", 3))


def _cell(value, std, decimals: int) -> str:
    if value is None:
        return "—"
    return f"{value:.{decimals}f}" + ("" if std is None else f" ± {std:.{decimals}f}")


def _rows(record: dict) -> list[tuple[str, list[str]]]:
    """(label, cells) for the test set, the model and its shuffled control."""
    rows = [("test set (real images, 1 per vector)",
             [_cell(record.get(f"test_set_{k}"), None, d) for k, _, d in COLUMNS])]
    for prefix, label in (("", record["model"]), ("control_", f"{record['model']}, y shuffled")):
        rows.append((label, [_cell(record[prefix + k], record.get(f"{prefix}{k}_std"), d)
                             for k, _, d in COLUMNS]))
    return rows


def _caption(record: dict) -> str:
    return (f"conditional {record['model']} at step {record['step']} on {record['dataset']} "
            f"({record['attributes']} attributes): {record['vectors']} test vectors × "
            f"{record['samples_per_vector']} samples, {len(record['seeds'])} run(s), "
            f"seeds {record['seeds'][0]}–{record['seeds'][-1]}")


def _per_attribute(record: dict) -> list[str]:
    names = record.get("attribute_names") or [str(i) for i in
                                               range(len(record["accuracy_per_attribute"]))]
    return [f"{n} {a:.2f} (real {r:.2f}, shuffled {c:.2f})" for n, a, r, c in zip(
        names, record["accuracy_per_attribute"], record["test_set_accuracy_per_attribute"],
        record["control_accuracy_per_attribute"])]


def format_table(record: dict) -> str:
    """The record as aligned text lines like the paper's Table 2, its LFW numbers below."""
    width = 40
    lines = [f"Table 2 protocol: {_caption(record)}",
             "  " + " " * width + "".join(f"{t:<22}" for _, t, _ in COLUMNS)]
    for label, cells in _rows(record):
        lines.append(f"  {label:<{width}}" + "".join(f"{c:<22}" for c in cells).rstrip())
    lines.append("  per-attribute accuracy of the samples: " + "; ".join(_per_attribute(record)))
    lines.append("  paper, on LFW (73 attributes; not comparable to other data):")
    for name, c, m, s in PAPER_LFW:
        lines.append(f"  {name:<{width}}{c:<22.4f}{m:.2f}{'' if s is None else f' ± {s:.2f}'}")
    return "\n".join(lines)


def markdown_table(record: dict) -> str:
    """The record as a Markdown table beside the paper's LFW rows, for TensorBoard's text tab."""
    head = "| row | data | " + " | ".join(t for _, t, _ in COLUMNS) + " |"
    lines = [f"Table 2 protocol, {_caption(record)}", "", head, "|---|---|" + "---|" * len(COLUMNS)]
    lines += [f"| {label} | {record['dataset']} | " + " | ".join(cells) + " |"
              for label, cells in _rows(record)]
    for name, c, m, s in PAPER_LFW:
        std = "" if s is None else f" ± {s:.2f}"
        lines.append(f"| paper: {name} | LFW | {c:.4f} | {m:.2f}{std} | — | — |")
    lines += ["", "Per-attribute accuracy of the samples: " + "; ".join(_per_attribute(record))]
    return "\n".join(lines)


def over_runs(records: list[dict]) -> dict:
    """{model: {key: (mean, std), "runs": n}} over training runs, one record per run, for every
    scalar of COLUMNS in the row, its control and the test set, and the per-attribute
    accuracies (means only)."""
    by_model: dict[str, list[dict]] = {}
    for r in records:
        by_model.setdefault(r["model"], []).append(r)
    out = {}
    for model, rs in by_model.items():
        row: dict = {"runs": len(rs), "seeds": [r.get("seed") for r in rs]}
        for prefix in ("", "control_", "test_set_"):
            for key, _, _ in COLUMNS:
                values = np.array([r[prefix + key] for r in rs], np.float64)
                row[prefix + key] = (float(values.mean()), float(values.std()))
            row[f"{prefix}accuracy_per_attribute"] = np.mean(
                [r[f"{prefix}accuracy_per_attribute"] for r in rs], axis=0).tolist()
        out[model] = row
    return out


ORDER = ("vaegan", "vae", "gan")  # the paper's ranking; other models after them, by name


def _models(rows: dict) -> list[str]:
    return [m for m in ORDER if m in rows] + sorted(set(rows) - set(ORDER))


def markdown_over_runs(records: list[dict]) -> str:
    """docs/evaluation.md's Table 2: each model and its control as mean ± std over training runs,
    the test set (the real images, averaged over the runs' data), then the paper's LFW rows."""
    rows = over_runs(records)
    models = _models(rows)
    cells = lambda row, p: [_cell(*row[p + k], d) for k, _, d in COLUMNS]  # noqa: E731
    head = "| row | training runs | " + " | ".join(t for _, t, _ in COLUMNS) + " |"
    lines = [head, "|---|---|" + "---:|" * len(COLUMNS)]
    first = rows[models[0]]
    lines.append("| test set (real images, 1 per vector) | — | "
                 + " | ".join(_cell(first["test_set_" + k][0], None, d) for k, _, d in COLUMNS)
                 + " |")
    for m in models:
        seeds = ",".join(str(s) for s in rows[m]["seeds"])
        lines.append(f"| {m} | {rows[m]['runs']} (seeds {seeds}) | "
                     + " | ".join(cells(rows[m], "")) + " |")
        lines.append(f"| {m}, y shuffled | {rows[m]['runs']} | "
                     + " | ".join(cells(rows[m], "control_")) + " |")
    for name, c, m, s in PAPER_LFW:
        std = "" if s is None else f" ± {s:.2f}"
        lines.append(f"| paper (LFW): {name} | | {c:.4f} | {m:.2f}{std} | | |")
    return "\n".join(lines)


def markdown_per_attribute(records: list[dict]) -> str:
    """Per-attribute accuracy of each model's samples (mean over training runs) and of the real
    test images."""
    rows = over_runs(records)
    models = _models(rows)
    names = records[0].get("attribute_names") or []
    lines = ["| attribute | real test images | " + " | ".join(models) + " | "
             + " | ".join(f"{m}, y shuffled" for m in models) + " |",
             "|---|" + "---:|" * (1 + 2 * len(models))]
    real = rows[models[0]]["test_set_accuracy_per_attribute"]
    for a, name in enumerate(names):
        lines.append(f"| {name} | {real[a]:.3f} | "
                     + " | ".join(f"{rows[m]['accuracy_per_attribute'][a]:.3f}" for m in models)
                     + " | " + " | ".join(f"{rows[m]['control_accuracy_per_attribute'][a]:.3f}"
                                          for m in models) + " |")
    return "\n".join(lines)
