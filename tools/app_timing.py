"""Response times of --mode=app's computations on a trained run, as the page calls them.

    python tools/app_timing.py --workdir=runs/demo [--repeats=20]

Restores the run once (as the page does), warms each computation up, then prints the median
and the slowest of --repeats calls, in milliseconds: the 64-sample grid, an attribute-slider
update (one decode of an edited code), a reconstruction of an uploaded JPEG (crop, encode,
decode), an interpolation (two encodes, eight decodes) and, on a conditional run, a 16-draw grid.
The page adds Gradio's own work (a PNG written and sent, tens of milliseconds) to these.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from vaegan_tf import run_record  # noqa: E402
from vaegan_tf.app import pictures  # noqa: E402
from vaegan_tf.app.backend import Backend  # noqa: E402
from vaegan_tf.images import image_grid  # noqa: E402
from vaegan_tf.workdir import Workdir  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up: the first call of a shape builds its kernels
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return 1000 * statistics.median(seconds), 1000 * max(seconds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    run = Workdir(args.workdir)
    config = run_record.load(run)
    backend = Backend.load(config, run)
    cases = {"64-sample grid": lambda: backend.samples(1, 1.0)}
    if backend.has_encoder and backend.test_images is not None:
        face = backend.test_images[0]
        upload = _jpeg(face)
        code, _ = backend.reconstruct(face)
        if backend.vectors is not None:
            strengths = np.zeros(len(backend.vectors.names), np.float32)
            strengths[0] = 1.0
            cases["attribute-slider update"] = lambda: backend.edit(code, strengths)
        cases["reconstruct an upload"] = lambda: backend.reconstruct(
            pictures.crop_picture(upload, config))
        cases["interpolate"] = lambda: backend.interpolate(face, backend.test_images[1])
    if config.conditional:
        ticked = np.zeros(config.num_attributes, bool)
        cases["16 conditional draws"] = lambda: backend.draws(ticked, 1, 1.0)
    print(f"{args.workdir}: --model={config.model} {config.image_size}x{config.image_size}, "
          f"{os.cpu_count()} CPUs, median and slowest of {args.repeats} calls")
    for name, fn in cases.items():
        median, slowest = timed(fn, args.repeats)
        print(f"  {name:<26}{median:8.1f} ms {slowest:8.1f} ms")


def _jpeg(image: np.ndarray) -> bytes:
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(image_grid(image[None], cols=1)).resize((178, 218)).save(out, "JPEG")
    return out.getvalue()


if __name__ == "__main__":
    main()
