"""Screenshots of TensorBoard's dashboards over real runs, for the docs.

    python tools/tensorboard_screenshots.py --logdir runs/ --out docs/

writes OUT/tensorboard_{scalars,images,hparams,projector}.png. Run --mode=embed on a run first,
or the Projector tab has nothing to show.

Why a browser: TensorBoard's dashboards are JavaScript apps that fetch their data after the page
loads (the Projector draws with WebGL), so nothing short of a browser renders them. Headless
Chromium's own --screenshot needs no driver, DevTools client or extra Python package, and
--virtual-time-budget lets the page's requests and timers run to completion before the shot,
so the picture shows charts rather than a loading spinner.

Why apt-get: Chromium is not a pip package. When no `chromium` is on PATH this installs Debian's
(`apt-get install -y chromium`, as root or through sudo) and stops with a message saying what to
do when it cannot. Not needed by the tests.

Why these Chromium flags: --no-sandbox because Chromium refuses to start as root (containers)
and the page is our own local server; SwiftShader because without a GPU Chromium no longer falls
back to software WebGL by itself, and the Projector would stay blank; a throwaway profile so runs
neither read nor touch the user's browser profile.

Why TensorBoard is started with --reload_task=blocking: every run is loaded before the server
answers, so the first page already shows all of them; --port=0 lets the OS pick a free port.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator

# Tab -> the URL fragment that opens it. The scalars tab shows the losses first (enc/dec/dis),
# unsmoothed, rather than the alphabetically first tags.
TABS = {
    "scalars": "scalars&tagFilter=loss&_smoothingWeight=0",
    "images": "images",
    "hparams": "hparams",
    "projector": "projector",
}
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
START_TIMEOUT = 180  # seconds for TensorBoard to import TensorFlow and load every run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", required=True, help="TensorBoard's --logdir, e.g. runs/")
    parser.add_argument("--out", default="docs", help="folder for the PNGs (default: docs)")
    parser.add_argument("--window", default="1400,900", help="browser window WIDTH,HEIGHT")
    parser.add_argument("--budget_ms", type=int, default=15000,
                        help="virtual time each page gets to load before its screenshot")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.logdir):
        parser.error(f"--logdir {args.logdir} is not a folder")
    if not re.fullmatch(r"\d+,\d+", args.window):
        parser.error(f"--window must be WIDTH,HEIGHT, not {args.window}")
    return args


def find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def ensure_chromium() -> str:
    """The path of a Chromium, installing Debian's package when there is none."""
    browser = find_browser()
    if browser:
        return browser
    if not shutil.which("apt-get"):
        sys.exit("No chromium on PATH and no apt-get to install it: install Chromium or Chrome "
                 "yourself and put it on PATH.")
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    if prefix and not shutil.which("sudo"):
        sys.exit("No chromium on PATH, and installing it needs root: run "
                 "`apt-get install -y chromium` as root, then run this again.")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("Installing chromium with apt-get (once) ...", flush=True)
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        result = subprocess.run(prefix + command, env=env)
        if result.returncode:
            sys.exit(f"`{' '.join(prefix + command)}` failed (exit status {result.returncode}); "
                     "install Chromium yourself and put it on PATH.")
    browser = find_browser()
    if not browser:
        sys.exit("apt-get installed chromium, but no chromium is on PATH.")
    return browser


@contextlib.contextmanager
def tensorboard(logdir: str) -> Iterator[str]:
    """Yields the base URL of a TensorBoard serving all of `logdir`; stops it afterwards."""
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        process = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", f"--logdir={logdir}", "--host=127.0.0.1",
             "--port=0", "--load_fast=false", "--reload_interval=0", "--reload_task=blocking"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            yield wait_for_url(process, log.name)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def answers(base: str) -> bool:
    """Whether the server at `base` serves its runs list (the URL line can precede listening)."""
    try:
        with urllib.request.urlopen(base + "data/runs", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for_url(process: subprocess.Popen, log_path: str) -> str:
    """The URL TensorBoard announces once it serves ("TensorBoard 2.x at URL")."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        with open(log_path) as f:
            found = re.search(r"TensorBoard \S+ at (http://127\.0\.0\.1:\d+/)", f.read())
        if found and answers(found.group(1)):
            return found.group(1)
        time.sleep(0.5)
    with open(log_path) as f:
        output = f.read()[-3000:]
    why = ("exited" if process.poll() is not None
           else f"did not start within {START_TIMEOUT} s")
    raise SystemExit(f"TensorBoard {why}:\n{output}")


def screenshot(browser: str, url: str, path: str, window: str, budget_ms: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tb_chromium_") as profile:
        command = [browser, "--headless=new", "--no-sandbox", f"--user-data-dir={profile}",
                   "--hide-scrollbars", f"--window-size={window}",
                   f"--virtual-time-budget={budget_ms}", "--run-all-compositor-stages-before-draw",
                   "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                   f"--screenshot={os.path.abspath(path)}", url]
        if os.path.exists(path):
            os.remove(path)  # so a failed shot cannot pass for a fresh one
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=budget_ms / 1000 + 120)
    if not os.path.isfile(path):
        raise SystemExit(f"Chromium wrote no {path} (exit status {result.returncode}):\n"
                         f"{result.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    browser = ensure_chromium()
    os.makedirs(args.out, exist_ok=True)
    paths = []
    with tensorboard(os.path.abspath(args.logdir)) as base:
        for tab, fragment in TABS.items():
            paths.append(os.path.join(args.out, f"tensorboard_{tab}.png"))
            screenshot(browser, f"{base}#{fragment}", paths[-1], args.window, args.budget_ms)
    print("\n".join(paths))


if __name__ == "__main__":
    main()
