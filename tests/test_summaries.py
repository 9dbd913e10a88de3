import numpy as np
from PIL import Image

from vaegan_tf import summaries


def test_image_grid_tiles_row_major_and_maps_range():
    images = np.stack([np.full((2, 3, 3), v, np.float32) for v in (-1.0, 0.0, 1.0)])
    grid = summaries.image_grid(images, cols=2)
    assert grid.shape == (4, 6, 3) and grid.dtype == np.uint8
    assert grid[0, 0, 0] == 0 and grid[0, 3, 0] == 128 and grid[2, 0, 0] == 255
    assert grid[2, 3, 0] == 0  # the missing fourth tile is padded black


def test_image_grid_clips_out_of_range():
    grid = summaries.image_grid(np.array([[[[3.0, -3.0, 0.5]]]], np.float32), cols=1)
    assert grid[0, 0].tolist() == [255, 0, 191]


def test_side_by_side_interleaves():
    a, b = np.zeros((2, 1, 1, 3)), np.ones((2, 1, 1, 3))
    assert summaries.side_by_side(a, b)[:, 0, 0, 0].tolist() == [0, 1, 0, 1]


def test_write_png_round_trip(tmp_path):
    grid = np.random.default_rng(0).integers(0, 255, (8, 16, 3), dtype=np.uint8)
    path = str(tmp_path / "g.png")
    summaries.write_png(path, grid)
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im), grid)
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]


def test_throughput_reports_images_per_second():
    t = summaries.Throughput(batch_size=10)
    t.on_epoch_begin(0)
    logs = {}
    for i in range(3):
        t.on_train_batch_end(i, logs)
    assert logs["img/s"] > 0 and t.batches == 3
    epoch_logs = {"loss": 1.0}
    t.on_epoch_end(0, epoch_logs)
    assert epoch_logs["img/s"] == t.rate


def _session_start(logdir: str):
    """The HParams plugin's session-start record of a logdir, read with TensorBoard's loaders."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata
    acc = EventAccumulator(logdir)
    acc.Reload()
    assert metadata.SESSION_START_INFO_TAG in acc.Tags()["tensors"]
    content = acc.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content
    return metadata.parse_session_start_info_plugin_data(content)


def test_a_training_run_records_its_hyperparameters_for_the_hparams_dashboard(tiny_runs):
    import os
    workdir, config = tiny_runs("vaegan")
    info = _session_start(os.path.join(workdir, "tensorboard"))
    assert info.group_name == os.path.basename(workdir)  # the trial is named after its workdir
    recorded = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                for k, v in info.hparams.items()}
    expected = summaries.hyperparameters(config)
    assert set(recorded) == set(expected)
    assert {"gamma", "model", "train_steps", "dis_passes"} <= set(recorded)
    assert not {"data_dir", "log_every", "checkpoint"} & set(recorded)
    for key, value in expected.items():
        assert recorded[key] == (value if isinstance(value, (bool, str)) else float(value)), key
