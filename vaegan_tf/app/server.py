"""--mode=app: the run restored once, then its page served on host:port until Ctrl-C.

The model is restored before Gradio is imported, so a workdir without a run or a checkpoint ends
in the one-line error of every mode, at once. Uploads stay in Gradio's own temporary folder
(GRADIO_TEMP_DIR, default /tmp/gradio), which must not lie inside the run's folder.
"""

from __future__ import annotations

import os
import tempfile

from absl import logging

from vaegan_tf.app import parts
from vaegan_tf.app.backend import Backend
from vaegan_tf.config import Config
from vaegan_tf.errors import UserError
from vaegan_tf.workdir import Workdir

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_FILE_SIZE = "50mb"  # Gradio refuses bigger uploads itself, with its own message


def upload_folder() -> str:
    """Where Gradio stores uploads and the pictures it serves."""
    return os.environ.get("GRADIO_TEMP_DIR") or os.path.join(tempfile.gettempdir(), "gradio")


def check_upload_folder(run: Workdir) -> None:
    folder, run_path = os.path.realpath(upload_folder()), os.path.realpath(run.path)
    if os.path.commonpath([folder, run_path]) == run_path:
        raise UserError(f"GRADIO_TEMP_DIR={folder} lies inside the run's folder {run.path}: "
                        "uploads are never written there; point it elsewhere")


def serve(config: Config, workdir: str | Workdir, host: str, port: int, block: bool = True):
    """Builds and starts the page; returns its local URL when `block` is False (tests), else
    serves until interrupted."""
    run = Workdir.of(workdir)
    check_upload_folder(run)
    backend = Backend.load(config, run)
    notes = parts.unavailable(config, run.path, backend.vectors is not None,
                              backend.vectors_problem)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home: offline hosts
    from vaegan_tf.app import page  # Gradio: imported in this mode only
    blocks = page.build(backend, notes, run.path)
    blocks.queue(default_concurrency_limit=1)  # one model on a few cores: requests in turn
    if host not in LOCAL_HOSTS:
        logging.warning("--app_host=%s: anyone who can reach this machine on port %d can use the "
                        "page and its CPU/GPU; there is no authentication", host, port)
    try:
        _, url, _ = blocks.launch(server_name=host, server_port=port, prevent_thread_lock=not block,
                                  quiet=not block, theme=page.theme(),
                                  max_file_size=MAX_FILE_SIZE, footer_links=[])
    except OSError as e:
        raise UserError(f"--app_host={host} --app_port={port}: cannot listen there ({e}); pass "
                        "another --app_port") from None
    return url, blocks


def app_mode(config: Config, workdir: str | Workdir, host: str, port: int) -> None:
    serve(config, workdir, host, port, block=True)
