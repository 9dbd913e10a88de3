"""The package's front door: `import vaegan_tf` is enough to load a saved model and names the
public API, and run.py still answers --help without importing TensorFlow."""

import os
import subprocess
import sys

import pytest
from conftest import tiny_config

import vaegan_tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


def test_public_names():
    from vaegan_tf.config import Config
    from vaegan_tf.model.vaegan import VAEGAN
    assert vaegan_tf.Config is Config and vaegan_tf.VAEGAN is VAEGAN
    assert set(vaegan_tf.__all__) <= set(dir(vaegan_tf))
    for name in vaegan_tf.__all__:
        assert getattr(vaegan_tf, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'Vaegan'"):
        vaegan_tf.Vaegan  # noqa: B018


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_import_vaegan_tf_is_enough_to_load_a_saved_model(tmp_path):
    from vaegan_tf.model.vaegan import VAEGAN
    model = VAEGAN(tiny_config())
    model.compile()
    path = str(tmp_path / "run.keras")
    model.save(path)
    load = f"import keras; m = keras.models.load_model({path!r}); print(type(m).__name__)"
    result = _python("import vaegan_tf; " + load)
    assert result.returncode == 0 and result.stdout.strip() == "VAEGAN", result.stderr[-2000:]
    # Without the package import Keras cannot find the class: what the front door fixes.
    result = _python(load)
    assert result.returncode != 0 and "Could not locate class 'VAEGAN'" in result.stderr


@pytest.mark.parametrize("module", ["run", "export.client"])
def test_entry_points_import_no_tensorflow_before_they_need_it(module):
    # run.py answers --help and flag errors at once; the REST client never needs TensorFlow.
    result = _python(f"import sys, os; import {module}; "
                     "print('tensorflow' in sys.modules, 'VAEGAN_TF_LIGHT_IMPORT' in os.environ)")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "False"]
