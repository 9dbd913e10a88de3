"""vaegan_tf: the VAE/GAN of Larsen et al., "Autoencoding beyond pixels using a learned similarity
metric" (ICML 2016), on Keras 3 / TensorFlow 2.

The front door:
    import keras, vaegan_tf
    model = keras.models.load_model("runs/demo/export/vaegan.keras")   # a trained VAEGAN
    config = vaegan_tf.Config(dataset="folder", data_dir="pictures")   # a run's settings
    vaegan_tf.VAEGAN(config)                                           # its networks

`import vaegan_tf` registers every class a saved model names with Keras (VAEGAN, its networks,
layers and optimizer), which means importing TensorFlow. run.py sets VAEGAN_TF_LIGHT_IMPORT=1
first, so `run.py --help` and flag errors answer without it; the names below then load on first
use.
"""

import importlib
import os

__version__ = "0.1.0"

# name -> the module that defines it
_PUBLIC = {
    "Config": "vaegan_tf.config",
    "VAEGAN": "vaegan_tf.model.vaegan",
    "Encoder": "vaegan_tf.model.networks",
    "Decoder": "vaegan_tf.model.networks",
    "Discriminator": "vaegan_tf.model.networks",
    "UserError": "vaegan_tf.errors",
    "ConfigError": "vaegan_tf.errors",
    "DataError": "vaegan_tf.errors",
    "CheckpointError": "vaegan_tf.errors",
}
# Importing these registers the classes a .keras file names (register_keras_serializable).
_KERAS_MODULES = ("vaegan_tf.model.vaegan", "vaegan_tf.model.networks", "vaegan_tf.model.layers",
                  "vaegan_tf.model.optim")
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'vaegan_tf' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))


if os.environ.get("VAEGAN_TF_LIGHT_IMPORT") != "1":
    from vaegan_tf import console as _console
    with _console._filtered_stderr():  # TensorFlow's native start-up notices stay off fd 2
        for _module in _KERAS_MODULES:
            importlib.import_module(_module)
