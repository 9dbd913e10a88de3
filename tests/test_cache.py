"""cache.py: a cache folder that cannot be written is refused before any decoding."""

import os
import subprocess
import sys

import pytest
from conftest import tiny_config

from vaegan_tf import data
from vaegan_tf.data import cache
from vaegan_tf.errors import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _not_a_folder(tmp_path) -> str:
    # Root may write anywhere, so a read-only folder would not stop this test's user: a path
    # under a regular file cannot be created by anyone.
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder's parent should be")
    return str(blocker / "cache")


def test_check_writable_names_the_folder(tmp_path):
    bad = _not_a_folder(tmp_path)
    with pytest.raises(DataError, match=f"--cache_dir={bad} is not writable"):
        cache.check_writable(bad)
    cache.check_writable(str(tmp_path / "new" / "cache"))  # created when missing
    assert os.listdir(tmp_path / "new" / "cache") == []  # the probe leaves nothing behind


def test_file_cache_is_not_built_into_an_unwritable_folder(tmp_path, monkeypatch):
    config = tiny_config(data_dir=str(tmp_path / "data"), cache="file",
                         cache_dir=_not_a_folder(tmp_path))
    decoded = []
    monkeypatch.setattr(cache, "build", lambda *a, **k: decoded.append(a))
    with pytest.raises(DataError, match="is not writable"):
        data.make_dataset(config, "train", training=True)
    assert decoded == []


@pytest.mark.slow  # run.py in a subprocess
def test_run_refuses_an_unwritable_cache_before_any_work(tmp_path):
    bad, workdir = _not_a_folder(tmp_path), tmp_path / "run"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "run.py"), f"--workdir={workdir}",
         "--dataset=synthetic", "--synthetic_images=60", "--image_size=32", "--enc_width=4",
         "--dec_width=2", "--dis_width=2", "--fc_width=16", "--latent_dim=4", "--batch_size=4",
         "--cache=file", f"--cache_dir={bad}", "--train_steps=2"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last = [l for l in result.stderr.splitlines() if l.strip()][-1]
    assert f"--cache_dir={bad} is not writable" in last, result.stderr[-2000:]
    # Nothing drawn, decoded or recorded.
    assert not (workdir / "data").exists() and not (workdir / "config.json").exists()
