"""A run's TensorBoard files (vaegan_tf/tensorboard_logs.py): the HParams record a training run
writes, read back with TensorBoard's own loaders."""

import json
import os

from vaegan_tf.tensorboard_logs import hyperparameters
from vaegan_tf.workdir import Workdir


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
    workdir, config = tiny_runs("vaegan")
    info = _session_start(os.path.join(workdir, "tensorboard"))
    assert info.group_name == os.path.basename(workdir)  # the trial is named after its workdir
    recorded = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                for k, v in info.hparams.items()}
    expected = hyperparameters(config)
    assert set(recorded) == set(expected)
    assert {"gamma", "model", "train_steps", "dis_passes"} <= set(recorded)
    assert not {"data_dir", "log_every", "checkpoint"} & set(recorded)
    for key, value in expected.items():
        assert recorded[key] == (value if isinstance(value, (bool, str)) else float(value)), key
    assert json.loads(open(Workdir(workdir).config_file).read())["networks"]["model"] == "vaegan"

