"""Renders a Kubernetes manifest for multi-worker training that survives preemption.

A headless Service NAME gives worker i the DNS name NAME-i.NAME; an Indexed Job NAME runs N pods of
`run.py --strategy=multi_worker`, each with a TF_CONFIG built from its completion index. Clean stops
(exit 143, 75, 130) and evicted pods are replaced, not counted against --backoff, and resume from
the shared workdir; exit 2 (a bad flag or data) fails the Job. Needs two PersistentVolumeClaims:
--runs_claim (ReadWriteMany, at /runs: one workdir for all) and --data_claim (read-only, at /data).

    python tools/render_k8s.py --workers 4 --image REGISTRY/vaegan-tf:TAG > job.yaml &&
        kubectl apply -f job.yaml

A worked example: tests/test_render_k8s.py checks the rendering and runs the container's TF_CONFIG
script with a fake python3; no test runs it on a real cluster.
"""

import argparse
import json
import os
import re
import shlex
import sys

# DNS-1035: a Service name must also start with a letter, which DNS-1123 labels need not.
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message: the line is the news
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def scalar(value, indent):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str) and "\n" in value:  # a literal block keeps the script readable
        return "|\n" + "\n".join(" " * indent + line if line else "" for line in value.splitlines())
    # JSON's double-quoted strings and flow lists are valid YAML, never misread as a bool or null.
    return json.dumps(value, separators=(", ", ": "))


def to_yaml(value, indent=0):
    """Block-style YAML lines for dicts and lists of dicts; other values go on their key's line."""
    pad, lines = " " * indent, []
    if isinstance(value, list):
        for item in value:
            sub = to_yaml(item, indent + 2) if isinstance(item, dict) else [
                " " * (indent + 2) + scalar(item, indent + 2)]
            lines += [f"{pad}- {sub[0][indent + 2:]}"] + sub[1:]
        return lines
    for key, item in value.items():
        if isinstance(item, dict) or isinstance(item, list) and any(
                isinstance(x, dict) or "\n" in str(x) for x in item):
            lines += [f"{pad}{key}:"] + to_yaml(item, indent + 2)
        else:
            lines.append(f"{pad}{key}: {scalar(item, indent + 2)}")
    return lines


# POSIX sh: the image's /bin/sh may be dash or busybox. script() fills in the @...@ fields.
SCRIPT = r"""set -eu
if [ -z "${JOB_COMPLETION_INDEX:-}" ]; then
  echo "error: JOB_COMPLETION_INDEX is not set: run this in an Indexed Job" >&2; exit 2
fi
workers=""
i=0
while [ "$i" -lt @N@ ]; do
  workers="$workers${workers:+, }\"@NAME@-$i.@NAME@:@PORT@\""
  i=$((i + 1))
done
task="{\"type\": \"worker\", \"index\": $JOB_COMPLETION_INDEX}"
export TF_CONFIG="{\"cluster\": {\"worker\": [$workers]}, \"task\": $task}"
# exec: python3 replaces sh as PID 1 and so gets the kubelet's SIGTERM (sh would not pass it on)
exec @RUN@
"""


def script(a):
    run = ["python3", "run.py", f"--flagfile={a.flagfile}", f"--workdir={a.workdir}",
           f"--data_dir={a.data_dir}", "--strategy=multi_worker", *a.flag]
    # @RUN@ last: a flag's text is left as it is.
    return (SCRIPT.replace("@NAME@", a.name).replace("@PORT@", str(a.port))
            .replace("@N@", str(a.workers)).replace("@RUN@", shlex.join(run)))


def manifest(a):
    on_codes = lambda codes: {"containerName": "trainer", "operator": "In", "values": codes}
    disrupted = {"type": "DisruptionTarget", "status": "True"}  # "True": the default, spelled out
    container = {
        "name": "trainer", "image": a.image, "workingDir": a.app_dir,
        "command": ["/bin/sh", "-c"], "args": [script(a)],
        # Indexed Jobs set it themselves (and keep one that is defined) on recent clusters only.
        "env": [{"name": "JOB_COMPLETION_INDEX",
                 "valueFrom": {"fieldRef": {"fieldPath": INDEX_FIELD}}}],
        "ports": [{"name": "grpc", "containerPort": a.port}],
        "volumeMounts": [{"name": "runs", "mountPath": "/runs"},
                         {"name": "data", "mountPath": "/data", "readOnly": True}]}
    resources = {"requests": {}, "limits": {}}
    for key, value in (("cpu", a.cpu), ("memory", a.memory)):
        if value:  # request = limit makes the pod Guaranteed: the last evicted under pressure
            resources["requests"][key] = resources["limits"][key] = value
    if a.gpus:
        resources["limits"]["nvidia.com/gpu"] = a.gpus
    if resources["limits"]:
        container["resources"] = {k: v for k, v in resources.items() if v}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": a.name}, "spec": {
        "clusterIP": "None", "selector": {"job-name": a.name},
        # DNS records before readiness: workers starting together must find each other.
        "publishNotReadyAddresses": True,
        "ports": [{"name": "grpc", "port": a.port, "targetPort": a.port}]}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": a.name}, "spec": {
        "completionMode": "Indexed", "completions": a.workers, "parallelism": a.workers,
        "backoffLimit": a.backoff,  # crashes only: the rules below take clean stops out
        "podFailurePolicy": {"rules": [  # first match wins; the API wants the values sorted
            {"action": "FailJob", "onExitCodes": on_codes([2])},  # bad flag/data: reruns fail too
            {"action": "Ignore", "onExitCodes": on_codes([75, 130, 143])},  # saved: rerun resumes
            {"action": "Ignore", "onPodConditions": [disrupted]}]},  # evicted, preempted, drained
        "template": {"spec": {
            "subdomain": a.name, "restartPolicy": "Never",  # Never: podFailurePolicy requires it
            "terminationGracePeriodSeconds": a.grace, "containers": [container],
            "volumes": [{"name": "runs", "persistentVolumeClaim": {"claimName": a.runs_claim}},
                        {"name": "data", "persistentVolumeClaim": {
                            "claimName": a.data_claim, "readOnly": True}}]}}}}
    return "---\n".join("\n".join(to_yaml(doc)) + "\n" for doc in (service, job))


def parse(argv):
    p = Parser(description=__doc__.splitlines()[0],
               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = p.add_argument
    add("--workers", type=int, required=True, help="worker pods, >= 1")
    add("--name", default="vaegan", help="Service and Job; a DNS label of at most 50 characters")
    add("--image", default="vaegan-tf:latest")
    add("--app_dir", default="/app", help="the image's folder holding run.py")
    add("--flagfile", default="celeba.flags", help="relative to --app_dir")
    add("--workdir", help="the run's folder under /runs (default /runs/NAME)")
    add("--data_dir", default="/data/celeba")
    add("--runs_claim", default="vaegan-runs", help="ReadWriteMany PVC mounted at /runs")
    add("--data_claim", default="vaegan-data", help="PVC mounted read-only at /data")
    add("--port", type=int, default=2222, help="1..65535")
    add("--grace", type=int, default=30, help="seconds from SIGTERM to SIGKILL, >= 1")
    add("--backoff", type=int, default=6, help="crashes the Job survives, >= 0")
    add("--cpu", help="CPU request = limit per worker, e.g. 8")
    add("--memory", help="memory request = limit per worker, e.g. 32Gi")
    add("--gpus", type=int, default=0, help="nvidia.com/gpu per worker")
    add("--flag", action="append", default=[], help="extra run.py flag: --flag=--batch_size=96")
    add("--out", help="write this file (atomically) instead of stdout")
    a = p.parse_args(argv)
    a.workdir = a.workdir or f"/runs/{a.name}"
    for option, low, high in [("workers", 1, None), ("port", 1, 65535), ("grace", 1, None),
                              ("backoff", 0, None), ("gpus", 0, None)]:
        value = getattr(a, option)
        if value < low or high is not None and value > high:
            p.error(f"--{option}={value}: must be "
                    + (f"in {low}..{high}" if high else f"at least {low}"))
    # 50 leaves room for "-<index>" in the 63-character hostname and the pods' generated names.
    if len(a.name) > 50 or not DNS_LABEL.fullmatch(a.name):
        p.error(f"--name={a.name}: must be a DNS label of at most 50 characters: a-z, 0-9 and "
                "-, starting with a letter and ending with a letter or digit")
    # Only /runs is shared and outlives the pods: a workdir elsewhere is lost on preemption.
    if not a.workdir.startswith("/runs/") or ".." in a.workdir:
        p.error(f"--workdir={a.workdir}: must be a folder under /runs/, the shared volume")
    if a.out and not os.path.isdir(os.path.dirname(os.path.abspath(a.out))):
        p.error(f"--out={a.out}: its folder does not exist")
    for flag in a.flag:
        if not flag.startswith("--") or not flag.isprintable():
            p.error(f"--flag={flag}: must be a run.py flag starting with --, e.g. --batch_size=96")
    return a


def main(argv=None):
    a = parse(argv)
    text = manifest(a)
    if not a.out:
        sys.stdout.write(text)
        return
    # Temp file + rename: an interrupted run never leaves half a manifest for kubectl to apply.
    tmp = f"{a.out}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, a.out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


if __name__ == "__main__":
    main()
