"""--mode=app's start-up: a run without a model is one line and exit status 2 before Gradio
loads; the page is served where asked, and a busy port or an upload folder inside the run is a
clear error."""

import os
import socket
import subprocess
import sys
import urllib.request

import pytest

from vaegan_tf.app import server
from vaegan_tf.errors import CheckpointError, UserError
from vaegan_tf.workdir import Workdir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_upload_folder_may_not_lie_inside_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "run" / "uploads"))
    with pytest.raises(UserError, match="lies inside the run's folder"):
        server.check_upload_folder(Workdir(str(tmp_path / "run")))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "elsewhere"))
    server.check_upload_folder(Workdir(str(tmp_path / "run")))


def test_no_checkpoint_stops_before_serving(tiny_runs, tmp_path):
    _, config = tiny_runs("vae")
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        server.serve(config, str(tmp_path), "127.0.0.1", free_port(), block=False)


def test_the_page_is_served_and_a_busy_port_is_refused(tiny_runs):
    workdir, config = tiny_runs("vae")
    port = free_port()
    url, blocks = server.serve(config, workdir, "127.0.0.1", port, block=False)
    try:
        assert url.startswith(f"http://127.0.0.1:{port}")
        with urllib.request.urlopen(url + "config", timeout=30) as response:
            assert workdir in response.read().decode()
        with pytest.raises(UserError, match=f"--app_port={port}: cannot listen there"):
            server.serve(config, workdir, "127.0.0.1", port, block=False)
    finally:
        blocks.close()


@pytest.mark.slow
@pytest.mark.parametrize("make,needle", [
    (lambda p: p, "holds no trained run"),
    (lambda p: p / "missing", "does not exist"),
])
def test_run_py_app_without_a_run_is_one_line_and_exit_2(tmp_path, make, needle):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), "--mode=app",
                             f"--workdir={make(tmp_path)}"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: ") and needle in lines[0]
