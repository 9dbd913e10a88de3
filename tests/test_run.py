"""run.py as a user meets it: flag files parse, and mistakes end in one clear line, no traceback."""

import os
import subprocess
import sys

import pytest

from conftest import PAPER_LITERAL
from vaegan_tf.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


# TensorFlow's C++ start-up lines (oneDNN, CUDA probing) cannot be silenced from Python.
TF_NOISE = ("I0000", "W0000", "E0000", "WARNING: All log messages before absl")


def _assert_clean_failure(result, *needles):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip() and not l.startswith(TF_NOISE)]
    # One message; absl adds a "--helpshort" hint to flag parsing errors.
    assert 1 <= len(lines) <= 2, result.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, result.stderr[-2000:])


@pytest.mark.parametrize("flag,needle", [
    ("--model=wgan", "--model"), ("--latent_dim=0", "--latent_dim"), ("--train_steps=-3", "--train_steps"),
    ("--batch_size=ten", "--batch_size"), ("--eval_every=7", "--eval_every"), ("--mode=dance", "--mode"),
])
def test_bad_flag_values(tmp_path, flag, needle):
    result = _run(f"--workdir={tmp_path}/w", flag)
    _assert_clean_failure(result, needle)
    assert not os.path.exists(tmp_path / "w")  # nothing written for a run that never started


def test_missing_workdir():
    _assert_clean_failure(_run("--dataset=synthetic"), "--workdir")


def test_missing_celeba_folder_points_to_the_demo(tmp_path):
    result = _run("--flagfile=celeba.flags", f"--workdir={tmp_path}/w", f"--data_dir={tmp_path}/nope")
    _assert_clean_failure(result, "nope", "demo.flags", "list_attr_celeba.txt")
    assert not os.path.exists(tmp_path / "w")


def test_stray_argument(tmp_path):
    result = _run(f"--workdir={tmp_path}/w", "extra")
    assert result.returncode != 0 and "Traceback" not in result.stderr


def test_flag_files_give_valid_configs():
    from absl import flags
    import run  # noqa: F401  (defines the flags)
    for name, expected in (("demo.flags", "synthetic"), ("celeba_paper.flags", "celeba"),
                           ("celeba.flags", "celeba")):
        flags.FLAGS.unparse_flags()
        flags.FLAGS([sys.argv[0], f"--flagfile={os.path.join(ROOT, name)}"])
        config = run.config_from_flags()
        assert config.dataset == expected
    assert (config.gamma, config.batch_size, config.latent_dim, config.enc_width) == (1e-6, 64, 128, 64)
    flags.FLAGS.unparse_flags()


def _flag_file(name):
    from absl import flags
    import run  # noqa: F401  (defines the flags)
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS([sys.argv[0], f"--flagfile={os.path.join(ROOT, name)}"])
        return run.config_from_flags()
    finally:
        flags.FLAGS.unparse_flags()


RECIPE_FIELDS = ("init", "dis_passes", "llike_stop_target", "dec_batch", "dis_batch", "gan_fakes",
                 "gan_loss", "gan_eps", "real_vs_gen_weight", "equilibrium_gate", "equilibrium",
                 "margin", "rmsprop_eps", "rmsprop_epsilon", "rmsprop_rho", "lr_schedule",
                 "learning_rate", "lr_end", "lr_power", "lr_epoch_steps", "train_steps",
                 "train_split", "gamma", "batch_size")


def test_celeba_flags_are_the_defaults_and_paper_literal_is_celeba_paper_flags():
    defaults = Config()
    authors = _flag_file("celeba.flags")
    paper = _flag_file("celeba_paper.flags")
    same = lambda a, b: a == (pytest.approx(b) if isinstance(b, float) else b)  # noqa: E731
    for field in RECIPE_FIELDS:
        assert same(getattr(authors, field), getattr(defaults, field)), field
    for field, value in PAPER_LITERAL.items():
        assert same(getattr(paper, field), value), field
