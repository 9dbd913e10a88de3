"""Image grids and PNGs (vaegan_tf/images.py)."""

import numpy as np
from PIL import Image

from vaegan_tf import images


def test_image_grid_tiles_row_major_and_maps_range():
    tiles = np.stack([np.full((2, 3, 3), v, np.float32) for v in (-1.0, 0.0, 1.0)])
    grid = images.image_grid(tiles, cols=2)
    assert grid.shape == (4, 6, 3) and grid.dtype == np.uint8
    assert grid[0, 0, 0] == 0 and grid[0, 3, 0] == 128 and grid[2, 0, 0] == 255
    assert grid[2, 3, 0] == 0  # the missing fourth tile is padded black


def test_image_grid_clips_out_of_range():
    grid = images.image_grid(np.array([[[[3.0, -3.0, 0.5]]]], np.float32), cols=1)
    assert grid[0, 0].tolist() == [255, 0, 191]


def test_side_by_side_interleaves():
    a, b = np.zeros((2, 1, 1, 3)), np.ones((2, 1, 1, 3))
    assert images.side_by_side(a, b)[:, 0, 0, 0].tolist() == [0, 1, 0, 1]


def test_write_png_round_trip(tmp_path):
    grid = np.random.default_rng(0).integers(0, 255, (8, 16, 3), dtype=np.uint8)
    path = str(tmp_path / "g.png")
    images.write_png(path, grid)
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im), grid)
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]
