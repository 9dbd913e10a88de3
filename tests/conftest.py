"""Shared fixtures: tiny configs so every test runs the real code in seconds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from vaegan_tf import synthetic  # noqa: E402
from vaegan_tf.config import Config  # noqa: E402

NUM_SYNTHETIC = 120  # 96 train, 12 validation, 12 test

# The paper read literally (celeba_paper.flags) where it differs from the authors' code, which
# Config's defaults follow: one Dis pass on [x, x~, x_p] for logits and Dis_l features, gradients
# through both sides of L_llike, Dec(z) and Dec(z_p) in one call, both fakes in Eq. 10's unweighted
# sum (real weight 1/3 of three terms) with exact cross-entropies, the non-saturating generator
# term, no equilibrium gate, Keras's initialisation and RMSprop, a constant rate of 3e-4.
PAPER_LITERAL = dict(
    dis_passes="one", llike_stop_target=False, dec_batch="joint", gan_fakes="both",
    gan_loss="non_saturating", gan_eps=0.0, real_vs_gen_weight=1 / 3, equilibrium_gate=False,
    init="glorot", rmsprop_eps="inside_sqrt", rmsprop_epsilon=1e-7, lr_schedule="constant",
    learning_rate=3e-4, train_split="train")


def tiny_config(**overrides) -> Config:
    """The real architecture at 1/8 of Table 1's widths, 32x32 images and small batches."""
    values = dict(enc_width=8, dec_width=4, dis_width=4, fc_width=32, latent_dim=8, image_size=32,
                  batch_size=8, dataset="synthetic", synthetic_images=120, train_steps=4,
                  log_every=2, eval_every=2, image_every=2, checkpoint_every=2, eval_batches=1,
                  shuffle_buffer=64)
    values.update(overrides)
    return Config(**values)


@pytest.fixture
def tiny():
    return tiny_config


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> str:
    """A small synthetic dataset in CelebA's official layout, drawn once per test session."""
    root = str(tmp_path_factory.mktemp("synthetic") / "data")
    synthetic.ensure_synthetic(root, NUM_SYNTHETIC, seed=0)
    return root
