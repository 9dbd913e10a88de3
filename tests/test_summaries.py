"""The training summaries (vaegan_tf/training/summaries.py); the grids they write: test_train.py."""
from vaegan_tf.training import summaries


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
