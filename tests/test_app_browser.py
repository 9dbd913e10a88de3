"""--mode=app in a real browser: headless Chromium (Debian's, driven by Playwright) on the pages
of two freshly trained tiny runs, checking that the pictures shown change as they should."""

import io
import os
import shutil
import socket

import numpy as np
import pytest
from conftest import offline_config
from PIL import Image

from vaegan_tf import run_record
from vaegan_tf.app import server
from vaegan_tf.app.handlers import GRID_TILE, PICTURE_SIDE
from vaegan_tf.evaluation import attributes
from vaegan_tf.training.train import train_mode
from vaegan_tf.workdir import Workdir

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it); Playwright's is not used
S = 32
# Generous: on a loaded 2-core CI machine (two test workers, Chromium, the server) a page load
# or a first request can take far longer than Playwright's 30 s defaults. Passing runs wait
# only as long as the page needs.
TIMEOUT_MS = 180_000
# The vae learns enough in this many steps that a reconstruction is nearer its own picture
# than another face; Keras's initialisation and a high rate get there fastest.
STEPS = 150


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _files(folder: str) -> set[str]:
    return {os.path.join(root, n) for root, _, names in os.walk(folder) for n in names}


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def _new_page(browser):
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.set_default_navigation_timeout(TIMEOUT_MS)
    return page


def _serve(config, workdir):
    config = run_record.offline_config(Workdir(workdir), config)
    url, blocks = server.serve(config, workdir, "127.0.0.1", _free_port(), block=False)
    return url, blocks


@pytest.fixture(scope="module")
def vae_page(tmp_path_factory, tiny_data_dir, browser):
    """A vae trained STEPS steps, with attribute vectors, served: (page, workdir, config)."""
    workdir = str(tmp_path_factory.mktemp("app_vae") / "run")
    config = offline_config(model="vae", train_steps=STEPS, batch_size=16, learning_rate=2e-3,
                            init="glorot", data_dir=tiny_data_dir, log_every=STEPS,
                            eval_every=STEPS, image_every=STEPS, checkpoint_every=STEPS)
    train_mode(config, workdir, verbose=0)
    attributes.attributes_mode(run_record.offline_config(Workdir(workdir), config), workdir)
    url, blocks = _serve(config, workdir)
    page = _new_page(browser)
    page.goto(url)
    yield page, workdir, config
    page.close()
    blocks.close()


def _shown(page, elem_id: str, scale: int) -> np.ndarray:
    """The picture in #elem_id as the browser got it, back at the model's own pixels."""
    src = page.locator(f"#{elem_id} img").get_attribute("src")
    body = page.request.get(src).body()
    pixels = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    return pixels[::scale, ::scale].astype(np.int64)


def _src(page, elem_id: str) -> str | None:
    img = page.locator(f"#{elem_id} img")
    return img.get_attribute("src") if img.count() else None


def _after(page, elem_id: str, action, scale: int) -> np.ndarray:
    """Runs `action`, waits until #elem_id shows a new picture, returns it."""
    before = _src(page, elem_id)
    action()
    page.wait_for_function(
        "([id, before]) => { const img = document.querySelector(`#${id} img`);"
        " return img && img.getAttribute('src') !== before; }",
        arg=[elem_id, before], timeout=TIMEOUT_MS)
    return _shown(page, elem_id, scale)


def _draw(page, seed: int):
    page.locator("#samples_seed input").fill(str(seed))
    page.locator("#samples_draw").click()


def test_samples_change_with_the_seed_and_repeat_for_the_same_seed(vae_page):
    page, _, _ = vae_page
    page.wait_for_selector("#samples_grid img", timeout=TIMEOUT_MS)  # drawn on load, seed 0
    scale = GRID_TILE // S
    first = _after(page, "samples_grid", lambda: _draw(page, 1), scale)
    second = _after(page, "samples_grid", lambda: _draw(page, 2), scale)
    again = _after(page, "samples_grid", lambda: _draw(page, 1), scale)
    assert first.shape == (8 * S, 8 * S, 3)
    assert np.abs(first - second).mean() > 2  # other faces
    np.testing.assert_array_equal(again, first)  # the same faces


def _face(config, number: int, tmp_path, size=None) -> tuple[str, np.ndarray]:
    """Test face `number` of the tiny data as a file (resized to `size`: any size is cropped
    alike) and its crop as training reads it, uint8."""
    from vaegan_tf import data
    from vaegan_tf.evaluation import inference
    index = data.load_index(config)
    path = [f for f, p in zip(index.filenames, index.partition) if p == 2][number]
    crops, _ = inference.split_images(config, "test", number + 1, index)
    out = str(tmp_path / f"face{number}.png")
    if size is None:  # the file itself, so the page's crop must equal training's exactly
        out = shutil.copy(path, tmp_path)
    else:
        with Image.open(path) as im:
            im.resize(size, Image.BICUBIC).save(out)
    return out, np.round((crops[number] + 1) * 127.5).astype(np.int64)


def _upload(page, elem_id: str, path: str):
    """Drops `path` into the upload box, clearing the file it holds first, as a user would."""
    box = page.locator(f"#{elem_id} input[type=file]")
    if not box.count():
        page.locator(f"#{elem_id} button[aria-label='Clear']").click()
    box.set_input_files(path)


def test_an_upload_is_reconstructed_and_the_sliders_edit_it(vae_page, tmp_path):
    page, workdir, config = vae_page
    before = _files(workdir)
    scale = PICTURE_SIDE // S
    a_path, a_crop = _face(config, 0, tmp_path)
    b_path, b_crop = _face(config, 5, tmp_path, size=(356, 436))  # twice the size
    shown_a = _after(page, "reconstruct_output", lambda: _upload(page, "reconstruct_upload",
                                                                 a_path), scale)
    page.wait_for_function("() => document.querySelector('#edit_output img')",
                           timeout=TIMEOUT_MS)
    np.testing.assert_array_equal(_shown(page, "reconstruct_input", scale), a_crop)
    plain = _shown(page, "edit_output", scale)
    np.testing.assert_array_equal(plain, shown_a)  # every slider at 0: the reconstruction

    def error(x, y):
        return np.abs(x - y).mean()
    assert error(shown_a, a_crop) < error(shown_a, b_crop)

    slider = page.locator("#edit_slider_0 input[type=number]")
    edited = _after(page, "edit_output", lambda: (slider.fill("3"), slider.press("Enter")), scale)
    assert np.abs(edited - plain).mean() > 1
    back = _after(page, "edit_output", lambda: (slider.fill("0"), slider.press("Enter")), scale)
    np.testing.assert_array_equal(back, plain)

    shown_b = _after(page, "reconstruct_output", lambda: _upload(page, "reconstruct_upload",
                                                                 b_path), scale)
    # Twice the size, resized again by the crop: the same face within a few grey levels.
    assert np.abs(_shown(page, "reconstruct_input", scale) - b_crop).mean() < 3
    assert error(shown_b, b_crop) < error(shown_b, a_crop)
    assert _files(workdir) == before  # the uploads went to Gradio's folder, not the run's


def test_the_path_between_two_uploads_starts_and_ends_at_their_reconstructions(vae_page,
                                                                             tmp_path):
    page, _, config = vae_page
    scale = PICTURE_SIDE // S
    (a_path, a_crop), (b_path, b_crop) = _face(config, 1, tmp_path), _face(config, 6, tmp_path)
    recon = {}
    for name, path in (("a", a_path), ("b", b_path)):
        recon[name] = _after(page, "reconstruct_output",
                             lambda: _upload(page, "reconstruct_upload", path), scale)
    _upload(page, "interpolate_a_upload", a_path)
    row = _after(page, "interpolate_row", lambda: _upload(page, "interpolate_b_upload", b_path),
                 scale)
    tiles = [row[:, i * S:(i + 1) * S] for i in range(row.shape[1] // S)]
    assert len(tiles) == 10  # picture A, 8 decoded points, picture B
    np.testing.assert_array_equal(tiles[0], a_crop)
    np.testing.assert_array_equal(tiles[-1], b_crop)

    def error(x, y):
        return np.abs(x - y).mean()
    # The path's ends are Dec(μ(A)) and Dec(μ(B)), the part above's reconstructions (decoded
    # in another batch, so equal to within a grey level); its middle is neither.
    assert error(tiles[1], recon["a"]) < 1 and error(tiles[8], recon["b"]) < 1
    assert error(tiles[1], recon["b"]) > 1 and error(tiles[8], recon["a"]) > 1
    assert min(error(tiles[4], tiles[1]), error(tiles[4], tiles[8])) > 1


def test_a_file_that_is_not_a_picture_is_a_message_on_the_page(vae_page, tmp_path):
    page, _, _ = vae_page
    path = tmp_path / "notes.txt"
    path.write_text("not a picture")
    _upload(page, "reconstruct_upload", str(path))
    message = page.locator("#reconstruct_message")
    message.get_by_text("notes.txt is not a picture").wait_for(timeout=TIMEOUT_MS)
    assert "Traceback" not in page.content()


def test_the_conditional_page_draws_the_ticked_attributes(tmp_path_factory, tiny_data_dir,
                                                          browser):
    workdir = str(tmp_path_factory.mktemp("app_conditional") / "run")
    config = offline_config(conditional=True, train_steps=2, data_dir=tiny_data_dir, init="glorot")
    train_mode(config, workdir, verbose=0)
    url, blocks = _serve(config, workdir)
    page = _new_page(browser)
    try:
        page.goto(url)
        page.wait_for_selector("#conditional_grid img", state="attached", timeout=TIMEOUT_MS)
        page.locator("#conditional_grid").scroll_into_view_if_needed()  # lazy pictures load
        note = page.locator("#edit_note").inner_text()
        assert "conditional model" in note
        scale = GRID_TILE // S
        plain = _shown(page, "conditional_grid", scale)
        box = page.locator("#conditional_attributes").get_by_label("Blond_Hair")
        blond = _after(page, "conditional_grid", box.check, scale)
        assert np.abs(blond - plain).mean() > 0.5
        np.testing.assert_array_equal(_after(page, "conditional_grid", box.uncheck, scale), plain)
    finally:
        page.close()
        blocks.close()
