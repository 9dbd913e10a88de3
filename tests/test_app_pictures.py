"""An upload is cropped exactly as the training data is, and a bad file ends in one message
naming its cause."""

import io

import numpy as np
import pytest
from conftest import tiny_config
from picture_fixtures import truncated_jpeg
from PIL import Image

from vaegan_tf import data
from vaegan_tf.app import pictures
from vaegan_tf.errors import DataError
from vaegan_tf.evaluation import inference


def _png(width: int, height: int, colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def test_an_upload_is_cropped_as_the_training_pipeline_crops_it(synthetic_root):
    config = tiny_config(data_dir=synthetic_root)
    index = data.load_index(config)
    expected, _ = inference.split_images(config, "test", 3, index)
    files = [f for f, p in zip(index.filenames, index.partition) if p == 2][:3]
    for path, crop in zip(files, expected):
        with open(path, "rb") as f:
            got = pictures.crop_picture(f.read(), config, path)
        assert got.shape == (32, 32, 3) and got.dtype == np.float32
        np.testing.assert_array_equal(got, crop)


def test_any_size_is_cropped_to_the_same_face(synthetic_root):
    """--crop=original's box scales with the picture: twice the size gives (nearly) the same
    crop, and another face a different one."""
    config = tiny_config(data_dir=synthetic_root)
    index = data.load_index(config)
    first, second = index.filenames[:2]
    with Image.open(first) as im:
        bigger = io.BytesIO()
        im.resize((im.width * 2, im.height * 2), Image.BICUBIC).save(bigger, "PNG")
    original = pictures.crop_picture(open(first, "rb").read(), config)
    doubled = pictures.crop_picture(bigger.getvalue(), config)
    other = pictures.crop_picture(open(second, "rb").read(), config)
    assert np.abs(doubled - original).mean() < 0.5 * np.abs(other - original).mean()


@pytest.mark.parametrize("contents,needle", [
    (b"", "is empty"),
    (b"name,smiling\nme,1\n", "is not a picture"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a readable picture"),
    (_png(6000, 5000), "too large: 6000x5000 pixels"),
])
def test_a_bad_file_is_named_with_its_cause(contents, needle):
    with pytest.raises(DataError, match=needle) as caught:
        pictures.crop_picture(contents, tiny_config(), "upload.bin")
    assert str(caught.value).startswith("upload.bin ")


def test_a_picture_that_cannot_be_decoded_is_a_data_error():
    with pytest.raises(DataError, match="broken.jpg (is not a readable picture|could not be "
                                        "decoded)"):
        pictures.crop_picture(truncated_jpeg(), tiny_config(), "broken.jpg")


def test_a_box_crop_the_picture_does_not_hold():
    config = tiny_config(crop="box:10,10,100,100")
    with pytest.raises(DataError, match=r"50x50 pixels\) does not hold the run's --crop=box"):
        pictures.crop_picture(_png(50, 50), config, "small.png")
    assert pictures.crop_picture(_png(120, 120), config).shape == (32, 32, 3)


def test_the_pixel_limit_is_read_from_the_header_before_decoding():
    assert pictures.picture_size(_png(5000, 5000), "x") == (5000, 5000)
    with pytest.raises(DataError, match="too large"):
        pictures.picture_size(_png(5001, 5000), "x")


def test_no_upload(tmp_path):
    with pytest.raises(DataError, match="no picture: upload one or pick a test image"):
        pictures.read_upload(None)
    path = tmp_path / "face.png"
    path.write_bytes(b"abc")
    assert pictures.read_upload(str(path)) == (b"abc", "face.png")
