"""Shared fixtures: tiny configs so every test runs the real code in seconds.

Tiers: `python -m pytest -m "not slow" tests` leaves out the tests marked slow (subprocess runs
of run.py, several processes or workers, long trainings) and still exercises every module; the
full suite is `python -m pytest tests`. The `slow` marker is registered in pyproject.toml.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vaegan_tf.config import Config  # noqa: E402
from vaegan_tf.data import synthetic  # noqa: E402

NUM_SYNTHETIC = 120  # 96 train, 12 validation, 12 test

# The paper read literally (celeba_paper.flags) where it differs from the authors' code, which
# Config's defaults follow: one Dis pass on [x, x~, x_p] for logits and Dis_l features, gradients
# through both sides of L_llike, Dec(z) and Dec(z_p) in one call, both fakes in Eq. 10's unweighted
# sum (real weight 1/3 of three terms) with exact cross-entropies, the non-saturating generator
# term, no equilibrium gate, Keras's initialisation and RMSprop, a constant rate of 3e-4.
PAPER_LITERAL = dict(
    dis_passes="one", llike_stop_target=False, dec_batch="joint", gan_fakes="both",
    gan_loss="non_saturating", gan_eps=0.0, real_vs_gen_weight=1 / 3, equilibrium_gate=False,
    init="glorot", rmsprop_epsilon_at="inside_sqrt", rmsprop_epsilon=1e-7, lr_schedule="constant",
    learning_rate=3e-4, train_split="train", dec_conditioning="input", dis_conditioning="fc")


def tiny_config(**overrides) -> Config:
    """The real architecture at 1/8 of Table 1's widths, 32x32 images and small batches."""
    # float32 whatever the machine (--precision=auto would pick bfloat16 on some): the tests
    # compare numbers at float32 tolerances.
    values = dict(enc_width=8, dec_width=4, dis_width=4, fc_width=32, latent_dim=8, image_size=32,
                  batch_size=8, precision="float32", dataset="synthetic", synthetic_images=120,
                  train_steps=4, log_every=2, eval_every=2, image_every=2, checkpoint_every=2,
                  eval_batches=1, shuffle_buffer=64)
    values.update(overrides)
    return Config(**values)


def offline_config(**overrides) -> Config:
    """tiny_config with the offline fields small: a 2-step classifier, 16 images per split."""
    values = dict(classifier_steps=2, eval_images=16)
    values.update(overrides)
    return tiny_config(**values)


@pytest.fixture
def tiny():
    return tiny_config


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> str:
    """A small synthetic dataset in CelebA's official layout, drawn once per test session."""
    root = str(tmp_path_factory.mktemp("synthetic") / "data")
    synthetic.ensure_synthetic(root, NUM_SYNTHETIC, seed=0)
    return root


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> str:
    """The offline-mode tests' synthetic data folder, filled by the first run that reads it."""
    return str(tmp_path_factory.mktemp("tiny_data"))


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, tiny_data_dir):
    """tiny_runs(model) -> (workdir, config) of a 2-step run of `model` on tiny_data_dir, trained
    once per session on first use and shared by every test that asks for it (copy the workdir
    to write into it; test_evaluate's vae check adds its metrics to the shared one)."""
    from export.saved_model import exports
    from vaegan_tf.training.train import train_mode
    runs = {}

    def trained(model: str = "vaegan") -> tuple[str, Config]:
        if model not in runs:
            config = offline_config(model=model, train_steps=2, data_dir=tiny_data_dir)
            workdir = str(tmp_path_factory.mktemp(f"tiny_{model}_"))
            train_mode(config, workdir, verbose=0,
                       chief_callbacks=[exports(config.export_every)])
            runs[model] = workdir, config.replace(data_dir=tiny_data_dir)
        return runs[model]
    return trained


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """test_export and test_serving's run: a tiny vaegan trained 4 steps with --export_every=2:
    (workdir, model restored at step 4)."""
    from export.saved_model import exports
    from vaegan_tf.evaluation import inference
    from vaegan_tf.training.train import train_mode
    from vaegan_tf.workdir import Workdir
    root = tmp_path_factory.mktemp("export")
    workdir = str(root / "run")
    train_mode(tiny_config(data_dir=str(root / "data"), export_every=2), workdir, verbose=0,
               chief_callbacks=[exports(2)])
    model = inference.restore(Workdir(workdir))
    return workdir, model


@pytest.fixture(scope="session")
def served(trained):
    """The SavedModels of `trained` at step 4, loaded: {"encoder": ..., "decoder": ...}."""
    import tensorflow as tf
    workdir, _ = trained
    return {name: tf.saved_model.load(os.path.join(workdir, "export", name, "4"))
            for name in ("encoder", "decoder")}


@pytest.fixture(scope="session")
def saved_checkpoints(tmp_path_factory):
    """A workdir with config.json and untrained checkpoints at steps 2 and 4 (the step-4 one with
    other weights): (workdir, config, {step: decoder weights})."""
    workdir = str(tmp_path_factory.mktemp("workdir"))
    config = tiny_config(data_dir=os.path.join(workdir, "no_data"), keep_checkpoints=5)
    import numpy as np

    from vaegan_tf import run_record
    from vaegan_tf.model.vaegan import VAEGAN
    from vaegan_tf.training import checkpointing
    from vaegan_tf.workdir import Workdir
    run_record.write(Workdir(workdir), config)
    model = VAEGAN(config)
    model.compile()
    manager = checkpointing.make_manager(model, workdir, config)
    weights = {}
    for step in (2, 4):
        model.step.assign(step)
        for v in model.decoder.weights:
            v.assign(np.random.default_rng(step).normal(size=v.shape).astype(np.float32))
        weights[step] = [v.numpy() for v in model.decoder.weights]
        manager.save(checkpoint_number=step)
    return workdir, config, weights


def copy_with_vectors(tmp_path_factory, tiny_runs, folder: str, names: tuple[str, ...],
                      seed: int) -> tuple[str, Config, np.ndarray]:
    """A copy of the shared tiny vaegan with random attribute vectors, one per name, written as
    --mode=attributes writes them: (workdir, config, vectors)."""
    import shutil

    from vaegan_tf.workdir import Workdir
    source, config = tiny_runs("vaegan")
    workdir = str(tmp_path_factory.mktemp(folder) / "run")
    shutil.copytree(source, workdir)
    vectors = np.random.default_rng(seed).normal(0, 3, (len(names), config.latent_dim)).astype(
        np.float32)
    np.savez(Workdir(workdir).attribute_vectors, vectors=vectors, names=np.array(names), step=2)
    return workdir, config, vectors
