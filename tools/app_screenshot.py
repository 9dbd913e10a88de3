"""docs/app.png: --mode=app's page on a trained run, in headless Chromium.

    python tools/app_screenshot.py --workdir=runs/demo --out=docs/app.png

Serves the run's page as --mode=app does, picks a test image to reconstruct, moves the first
attribute slider to --strength (when the run has attribute vectors), picks two test images to
interpolate, and saves the top --height pixels of the page, quantised to 256 colours so the
file stays small. Needs Debian's Chromium (`apt-get install -y chromium`) and Playwright.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from PIL import Image  # noqa: E402

from vaegan_tf import run_record  # noqa: E402
from vaegan_tf.app import server  # noqa: E402
from vaegan_tf.workdir import Workdir  # noqa: E402

TIMEOUT_MS = 120_000


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", default="docs/app.png")
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=1500)
    parser.add_argument("--strength", type=float, default=2.0)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = Workdir(args.workdir)
    config = run_record.load(run)
    url, blocks = server.serve(config, run, "127.0.0.1", port, block=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(url)
        page.wait_for_selector("#samples_grid img", timeout=TIMEOUT_MS)
        if page.locator("#reconstruct_tests").count():
            page.locator("#reconstruct_tests .thumbnail-item").nth(2).click()
            page.wait_for_selector("#reconstruct_output img", timeout=TIMEOUT_MS)
        if page.locator("#edit_slider_0").count():
            slider = page.locator("#edit_slider_0 input[type=number]")
            slider.fill(str(args.strength))
            slider.press("Enter")
            page.wait_for_timeout(3000)
        for end, number in (("a", 0), ("b", 5)):
            if page.locator(f"#interpolate_{end}_tests").count():
                page.locator(f"#interpolate_{end}_tests .thumbnail-item").nth(number).click()
        page.wait_for_timeout(5000)
        # The page's top, wherever the clicks scrolled to.
        page.screenshot(path=args.out, full_page=True, clip={"x": 0, "y": 0, "width": args.width,
                                                             "height": args.height})
        browser.close()
    blocks.close()
    with Image.open(args.out) as shot:
        shot.convert("RGB").quantize(256).save(args.out, optimize=True)
    print(args.out, os.path.getsize(args.out), "bytes")


if __name__ == "__main__":
    main()
