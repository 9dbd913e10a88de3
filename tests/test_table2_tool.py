"""tools/table2.py, the whole Table 2 in one command: which runs it starts with which flags, and the
table it writes from their records (run.py itself replaced by a stand-in that writes records)."""

import importlib.util
import json
import os
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def tool():
    spec = importlib.util.spec_from_file_location("table2_tool",
                                                  os.path.join(ROOT, "tools", "table2.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(model, seed):
    values = {"vaegan": 0.9, "vae": 0.8, "gan": 0.5}[model] + 0.01 * seed
    per = [values, values - 0.1]
    record = {"protocol": "table2", "model": model, "seed": seed, "attribute_names": ["a", "b"]}
    for prefix, shift in (("", 0.0), ("control_", -0.3), ("test_set_", 0.05)):
        record.update({f"{prefix}cosine": values + shift, f"{prefix}mse": 10 - values - shift,
                       f"{prefix}cosine_mean": values + shift - 0.1,
                       f"{prefix}accuracy": values + shift,
                       f"{prefix}accuracy_per_attribute": [p + shift for p in per]})
    return record


def test_trains_evaluates_and_tabulates_every_model_and_seed(tool, tmp_path, monkeypatch):
    calls, lock = [], threading.Lock()

    def fake_run(args, log, threads=0, data_lock=None, data_dir=""):
        flags = dict(a[2:].split("=", 1) for a in args if "=" in a)
        with lock:
            calls.append((args, threads))
        if data_lock is not None:  # a training run: it draws its seed's data
            os.makedirs(data_dir, exist_ok=True)
            open(os.path.join(data_dir, tool.MANIFEST_FILE), "w").close()
        if flags.get("mode") == "evaluate":
            name = os.path.basename(flags["workdir"])
            model, seed = name.rsplit("_s", 1)
            with open(os.path.join(flags["workdir"], "metrics.jsonl"), "a") as f:
                f.write(json.dumps({"protocol": "metrics"}) + "\n")
                f.write(json.dumps({**_record(model, int(seed)), "step": 7}) + "\n")
        elif flags.get("mode") == "sample":
            os.makedirs(os.path.join(flags["workdir"], "samples"), exist_ok=True)
            open(os.path.join(flags["workdir"], "samples", "attribute_switches_0000007.png"),
                 "w").close()
        else:
            os.makedirs(flags["workdir"], exist_ok=True)
            with open(os.path.join(flags["workdir"], "config.json"), "w") as f:
                json.dump({"train_steps": int(flags["train_steps"])}, f)

    monkeypatch.setattr(tool, "_run", fake_run)
    out = tmp_path / "t2"
    tool.main([f"--out={out}", "--seeds=0,1,2", "--jobs=2", "--", "--train_steps=7"])
    trainings = [a for a, _ in calls if "--flagfile=conditional_demo.flags" in a]
    assert len(trainings) == 9 and all("--train_steps=7" in a for a in trainings)
    assert {t for a, t in calls if a in trainings} == {max(1, (os.cpu_count() or 1) // 2)}
    for a in trainings:  # each seed's runs share its data, regressor and classifier
        seed = next(x for x in a if x.startswith("--seed=")).split("=")[1]
        assert f"--data_dir={out}/data_s{seed}" in a and f"--regressor_dir={out}/regressor_s{seed}" in a
        assert any(x.startswith(f"--workdir={out}/") and x.endswith(f"_s{seed}") for x in a)
    evaluations = [a for a, _ in calls if "--mode=evaluate" in a]
    assert [a[2] for a in evaluations][:3] == [f"--workdir={out}/{m}_s0" for m in ("vaegan", "vae", "gan")]
    assert all("--protocol=table2" in a for a in evaluations) and len(evaluations) == 9
    assert sum("--mode=sample" in a for a, _ in calls) == 9
    table = (out / "table2.md").read_text()
    assert "| vaegan | 3 (seeds 0,1,2) | 0.9100 ± 0.0082 |" in table
    assert "| gan, y shuffled | 3 |" in table and "| a | 0.960 | 0.910 | 0.810 | 0.510 |" in table
    assert len((out / "table2.jsonl").read_text().splitlines()) == 9
    # A rerun trains (run.py resumes, finishing at once) but evaluates and pictures nothing again;
    # an evaluation of an earlier checkpoint, appended since, is not taken for the run's.
    with open(out / "vaegan_s0" / "metrics.jsonl", "a") as f:
        f.write(json.dumps({**_record("gan", 0), "model": "vaegan", "step": 3}) + "\n")
    calls.clear()
    tool.main([f"--out={out}", "--seeds=0,1,2", "--jobs=2", "--", "--train_steps=7"])
    assert len(calls) == 9 and all("--flagfile=conditional_demo.flags" in a for a, _ in calls)
    assert (out / "table2.md").read_text() == table


def test_a_failed_run_stops_the_tool_with_its_command(tool, tmp_path, monkeypatch):
    monkeypatch.setattr(tool, "ROOT", str(tmp_path))  # no run.py there: python exits 2
    with pytest.raises(SystemExit, match=r"error: run.py --flagfile=conditional_demo.flags "
                                         r"--model=vae --seed=0 .* exited with 2"):
        tool.main([f"--out={tmp_path}/t2", "--seeds=0", "--models=vae"])
