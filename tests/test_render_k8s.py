"""tools/render_k8s.py: the Kubernetes manifest it renders, and the container's TF_CONFIG script,
run for real by /bin/sh with a fake python3 (no cluster here)."""

import os
import subprocess
import sys

import pytest
import yaml

from vaegan_tf.training.distribute import parse_tf_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "docs", "k8s", "vaegan-2-workers.yaml")
TRIAL = ["--workers", "3", "--name", "trial", "--port", "3333", "--gpus", "1",
         "--flag=--batch_size=96"]
WORKERS = ["trial-0.trial:3333", "trial-1.trial:3333", "trial-2.trial:3333"]
RUN_ARGS = ["run.py", "--flagfile=celeba.flags", "--workdir=/runs/trial",
            "--data_dir=/data/celeba", "--strategy=multi_worker", "--batch_size=96"]
# Stands in for the image's python3: its pid, TF_CONFIG, then its arguments, one a line.
FAKE_PYTHON = """#!/bin/sh
echo "$$"
printf '%s\\n' "$TF_CONFIG"
for arg; do printf '%s\\n' "$arg"; done
"""
AFTER = "echo after-python3"  # appended to the script: must never run if python3 replaced sh


def render(*args):
    return subprocess.run([sys.executable, "tools/render_k8s.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def trial():
    result = render(*TRIAL)
    assert result.returncode == 0, result.stderr
    return list(yaml.safe_load_all(result.stdout))


@pytest.fixture
def fake_path(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(FAKE_PYTHON)
    (bin_dir / "python3").chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def container_of(job):
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def test_checked_in_example_is_the_renderers_output():
    result = render("--workers", "2")
    assert result.returncode == 0, result.stderr
    with open(EXAMPLE) as f:
        assert f.read() == result.stdout, "rerun: python tools/render_k8s.py --workers 2 --out " \
                                          "docs/k8s/vaegan-2-workers.yaml"


def test_manifest(trial):
    assert [doc["kind"] for doc in trial] == ["Service", "Job"]
    service, job = trial
    assert service["metadata"]["name"] == "trial"
    assert service["spec"]["clusterIP"] == "None"  # headless: one DNS record per pod
    assert service["spec"]["selector"] == {"job-name": "trial"}
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("grpc", 3333)]

    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert (job["apiVersion"], job["metadata"]["name"]) == ("batch/v1", "trial")
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 3
    assert spec["backoffLimit"] == 6
    assert pod["restartPolicy"] == "Never"
    assert pod["subdomain"] == "trial"  # with hostname trial-<i>: DNS name trial-<i>.trial
    assert pod["terminationGracePeriodSeconds"] == 30
    codes = lambda values: {"containerName": "trainer", "operator": "In", "values": values}
    assert spec["podFailurePolicy"]["rules"] == [
        {"action": "FailJob", "onExitCodes": codes([2])},
        {"action": "Ignore", "onExitCodes": codes([75, 130, 143])},  # sorted: the API requires it
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]

    container = container_of(job)
    assert container["name"] == "trainer"
    assert container["image"] == "vaegan-tf:latest" and container["workingDir"] == "/app"
    assert container["command"] == ["/bin/sh", "-c"] and len(container["args"]) == 1
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert [p["containerPort"] for p in container["ports"]] == [3333]
    assert container["env"] == [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}]
    mounts = {m["name"]: (m["mountPath"], m.get("readOnly", False))
              for m in container["volumeMounts"]}
    assert mounts == {"runs": ("/runs", False), "data": ("/data", True)}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    assert claims == {"runs": "vaegan-runs", "data": "vaegan-data"}


@pytest.mark.parametrize("index", [0, 1, 2])
def test_script_builds_tf_config_and_execs_python(trial, fake_path, tmp_path, index):
    script = container_of(trial[1])["args"][0]
    # The wrapper prints its pid, then execs sh on the script: with `exec python3 ...`, the fake
    # python3 keeps that pid. The line appended after the script must not run either; it also stops
    # a shell that execs a script's last command by itself from hiding a missing `exec`.
    result = subprocess.run(
        ["/bin/sh", "-c", 'echo "$$"; exec /bin/sh -c "$0"', script + AFTER + "\n"],
        env={"PATH": fake_path, "JOB_COMPLETION_INDEX": str(index)}, cwd=tmp_path,
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    shell_pid, python_pid, tf_config, *args = result.stdout.splitlines()
    assert python_pid == shell_pid, "python3 ran as a child of sh: the script must exec it"
    assert args == RUN_ARGS  # and nothing after: AFTER did not run
    task = parse_tf_config(tf_config)
    assert task.cluster == {"worker": WORKERS}
    assert (task.type, task.index, task.num_workers) == ("worker", index, 3)
    assert task.is_chief == (index == 0)


def test_script_without_an_index_fails_as_a_user_error(trial, fake_path, tmp_path):
    result = subprocess.run(["/bin/sh", "-c", container_of(trial[1])["args"][0]],
                            env={"PATH": fake_path}, cwd=tmp_path, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2  # the podFailurePolicy's FailJob: retrying cannot help
    assert "JOB_COMPLETION_INDEX" in result.stderr and result.stdout == ""


def test_out_writes_the_same_text(tmp_path):
    out = tmp_path / "job.yaml"
    result = render("--workers", "2", "--out", str(out))
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert out.read_text() == render("--workers", "2").stdout
    assert os.listdir(tmp_path) == ["job.yaml"]  # no temp file left
    (tmp_path / "plain").write_text("")
    mode = lambda path: path.stat().st_mode & 0o777
    assert mode(out) == mode(tmp_path / "plain"), "a new file's usual mode, not a private 0600"


@pytest.mark.parametrize("args, option", [
    (["--workers", "0"], "--workers"),
    (["--workers", "2", "--name", "Bad_Name"], "--name"),
    (["--workers", "2", "--name", "2trial"], "--name"),  # a Service name starts with a letter
    (["--workers", "2", "--port", "70000"], "--port"),
    (["--workers", "2", "--flag=batch_size=3"], "--flag"),
    (["--workers", "2", "--workdir", "/tmp/run"], "--workdir"),
    (["--workers", "two"], "--workers"),
])
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, args, option):
    out = tmp_path / "job.yaml"
    result = render(*args, "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and option in lines[0], lines
    assert result.stdout == "" and os.listdir(tmp_path) == []
