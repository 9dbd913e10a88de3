"""Local multi-worker clusters for the tests: N `run.py --strategy=multi_worker` processes on free
127.0.0.1 ports, sharing one workdir, each with its own TMPDIR and a stderr log file.

    cluster = Cluster(tmp_path, n=2)
    cluster.start(flags)                  # every worker, the same flags
    cluster.wait_for(path)                # until a file appears (a checkpoint, say)
    cluster.signal(1, signal.SIGTERM)     # one worker
    codes = cluster.wait(timeout=120)     # every worker's exit status, or a failure naming it
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(cluster: dict, task_type: str, index: int) -> str:
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def run_flags(config) -> list[str]:
    """The run.py flags that give `config` (only those differing from the defaults)."""
    from vaegan_tf import config as config_lib
    default, flags = config_lib.Config(), []
    for f in config_lib.fields():
        value = getattr(config, f.name)
        if value != getattr(default, f.name):
            flags.append(f"--{f.name}={str(value).lower() if f.type == 'bool' else value}")
    return flags


def tail(log: str, lines: int = 40) -> str:
    """The end of a worker's stderr without the tensor dumps an error message may carry."""
    kept = [l for l in log.splitlines()
            if l.strip() and not re.match(r"\s*(\[|\.\.\.,|\]|shape=)", l)]
    return "\n".join(kept[-lines:])


class Cluster:
    """N workers of one run; a new `start` uses new ports (a rerun, as a user would)."""

    def __init__(self, base, n: int = 2):
        self.base, self.n = str(base), n
        self.procs: list[subprocess.Popen] = []
        self.logs: list[str] = []
        self.started = 0.0
        self.runs = 0

    def start(self, flags: list[str], cwds: list[str] | None = None) -> None:
        """Starts every worker with `flags`, in `cwds[i]` (default: all in the base folder)."""
        self.runs += 1
        cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(self.n)]}
        self.procs, self.logs = [], []
        for index in range(self.n):
            temp = os.path.join(self.base, f"tmp{index}")
            os.makedirs(temp, exist_ok=True)
            log = os.path.join(self.base, f"worker{index}.run{self.runs}.log")
            env = dict(os.environ, TF_CONFIG=tf_config(cluster, "worker", index), TMPDIR=temp,
                       TF_CPP_MIN_LOG_LEVEL="2")
            with open(log, "w") as err:
                self.procs.append(subprocess.Popen(
                    [sys.executable, os.path.join(ROOT, "run.py"), *flags],
                    cwd=cwds[index] if cwds else self.base,
                    env=env, stdout=subprocess.DEVNULL, stderr=err))
            self.logs.append(log)
        self.started = time.monotonic()

    def log(self, index: int) -> str:
        with open(self.logs[index], errors="replace") as f:
            return f.read()

    def wait_for(self, path: str, timeout: float = 300) -> None:
        """Until `path` exists; fails with the workers' logs if one ends first or time runs out."""
        end = time.monotonic() + timeout
        while not os.path.exists(path):
            ended = [i for i, p in enumerate(self.procs) if p.poll() is not None]
            if ended or time.monotonic() > end:
                self.kill()
                raise AssertionError(
                    f"{path} did not appear ({'worker ' + str(ended) + ' ended' if ended else 'timeout'})\n"
                    + "\n".join(f"--- worker {i}\n{tail(self.log(i))}" for i in range(self.n)))
            time.sleep(0.05)

    def signal(self, index: int, signum: int) -> float:
        """Sends `signum` to one worker; returns the monotonic time it was sent."""
        self.procs[index].send_signal(signum)
        return time.monotonic()

    def wait(self, timeout: float = 300) -> list[int]:
        """Every worker's exit status; a worker still running after `timeout` is killed and
        reported as a failure."""
        end = time.monotonic() + timeout
        codes = []
        for i, p in enumerate(self.procs):
            try:
                codes.append(p.wait(timeout=max(0.1, end - time.monotonic())))
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"worker {i} still ran {timeout:.0f} s later\n"
                                     + tail(self.log(i))) from None
        return codes

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
