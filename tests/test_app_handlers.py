"""The page's events: pictures shown at whole-pixel scale, and every bad input shown as one line
of message (never raised, never a traceback), without writing into the run's folder."""

import io
import os

import numpy as np
import pytest
from conftest import copy_with_vectors
from PIL import Image

from vaegan_tf.app.backend import Backend
from vaegan_tf.app.handlers import Handlers, shown


def _files(folder: str) -> dict[str, float]:
    return {os.path.join(root, name): os.path.getmtime(os.path.join(root, name))
            for root, _, names in os.walk(folder) for name in names}


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_runs):
    workdir, config, _ = copy_with_vectors(tmp_path_factory, tiny_runs, "app_handlers",
                                           ("A", "B"), seed=1)
    return workdir, Handlers(Backend.load(config, workdir))


@pytest.fixture
def upload(tmp_path):
    def write(name: str, contents: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(contents)
        return str(path)
    return write


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(out, "PNG")
    return out.getvalue()


def test_shown_repeats_whole_pixels():
    pixels = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    big = shown(pixels, 3)
    assert big.shape == (6, 6, 3)
    np.testing.assert_array_equal(big[::3, ::3], pixels)


def test_an_upload_is_shown_with_its_reconstruction_and_edited(run, upload):
    workdir, handlers = run
    before = _files(workdir)
    crop, reconstruction, code, message = handlers.reconstruct(upload("face.png", _png(300, 200)),
                                                               None)
    assert message == "" and crop.shape == reconstruction.shape == (128, 128, 3)
    np.testing.assert_array_equal(crop[0, 0], [90, 140, 200])  # one colour, cropped: the same
    edited, message = handlers.edit(code, 0.0, 0.0)
    assert message == ""
    np.testing.assert_array_equal(edited, reconstruction)
    assert (handlers.edit(code, 2.0, 0.0)[0] != reconstruction).any()
    grid, message = handlers.samples(3, 1.0)
    assert message == "" and grid.shape == (512, 512, 3)
    assert _files(workdir) == before  # nothing written into the run's folder


def test_a_test_image_and_an_interpolation(run):
    _, handlers = run
    crop, _, code, message = handlers.reconstruct(None, 2)
    assert message == "" and code.shape == (8,)
    shown_a, a, _ = handlers.end(None, 1)
    assert handlers.interpolate(a, None) == (None, "Choose both pictures: the faces between "
                                                   "them appear here.")
    row, message = handlers.interpolate(a, handlers.backend.test_image(3))
    assert message == "" and row.shape == (128, 10 * 128, 3)
    np.testing.assert_array_equal(row[:, :128], shown_a)


@pytest.mark.parametrize("name,contents,needle", [
    ("notes.txt", b"just some words", "⚠ notes.txt is not a picture: upload a JPEG, PNG, GIF, "
                                      "BMP or WebP file"),
    ("empty.jpg", b"", "⚠ empty.jpg is empty"),
    ("huge.png", _png(8000, 4000), "⚠ huge.png is too large: 8000x4000 pixels, more than the "
                                   "25 megapixels"),
    ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x01" * 64, "⚠ fake.png is not a readable picture"),
])
def test_a_bad_upload_is_a_message(run, upload, name, contents, needle):
    _, handlers = run
    for result in (handlers.reconstruct(upload(name, contents), None),
                   handlers.end(upload(name, contents), None)):
        assert result[-1].startswith(needle) and "Traceback" not in result[-1]
        assert all(r is None for r in result[:-1])


def test_bad_values_are_messages(run):
    _, handlers = run
    assert handlers.reconstruct(None, None)[-1] == "⚠ no picture: upload one or pick a test image"
    assert handlers.reconstruct(None, 99)[-1] == "⚠ test image: pick one from 1 to 12"
    assert handlers.samples(-4, 1.0) == (None, "⚠ seed: a whole number from 0 to 4294967295, "
                                               "not -4")
    assert handlers.samples(0, 9)[1] == "⚠ temperature: from 0 to 3.0, not 9"
    assert handlers.edit(None, 1.0, 0.0) == (None, "Reconstruct a picture first: the sliders "
                                                   "edit it.")
    assert handlers.edit(np.zeros(8), 1.0)[1] == "⚠ attribute strengths: 2 values, got 1"


def test_an_unexpected_error_is_named_on_the_page_and_logged(run, monkeypatch, caplog):
    _, handlers = run

    def broken(*_):
        raise RuntimeError("boom")
    monkeypatch.setattr(handlers.backend, "samples", broken)
    grid, message = handlers.samples(0, 1.0)
    assert grid is None and message.startswith("⚠ internal error (RuntimeError: boom)")
    assert "Traceback" in caplog.text  # the console keeps it, the page does not
