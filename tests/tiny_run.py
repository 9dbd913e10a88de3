"""One tiny trained run per model, shared by the offline-mode tests of a pytest process."""

import functools
import tempfile

from conftest import tiny_config
from vaegan_tf.train import train_and_evaluate


@functools.lru_cache(maxsize=None)
def data_dir() -> str:
    return tempfile.mkdtemp(prefix="tiny_data_")


@functools.lru_cache(maxsize=None)
def trained(model: str = "vaegan") -> tuple[str, object]:
    """(workdir, config) of a 2-step run of `model` on the tiny synthetic data."""
    config = offline_config(model=model, train_steps=2, data_dir=data_dir())
    workdir = tempfile.mkdtemp(prefix=f"tiny_{model}_")
    train_and_evaluate(config, workdir, verbose=0)
    return workdir, config.replace(data_dir=data_dir())


def offline_config(**overrides):
    """tiny_config with the offline fields small: a 2-step classifier, 16 images per split."""
    values = dict(classifier_steps=2, eval_images=16)
    values.update(overrides)
    return tiny_config(**values)
