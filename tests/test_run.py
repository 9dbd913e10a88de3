"""run.py as a user meets it: flag files parse, and mistakes end in one clear line, no traceback."""

import os
import subprocess
import sys

import pytest
from conftest import PAPER_LITERAL

from vaegan_tf import config as config_lib
from vaegan_tf.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


# TensorFlow's C++ start-up lines (oneDNN, CUDA probing), which console.py keeps off the console.
TF_NOISE = ("I0000", "W0000", "E0000", "WARNING: All log messages before absl")


def _assert_clean_failure(result, *needles):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    # One message; absl adds a "--helpshort" hint to flag parsing errors.
    assert 1 <= len(lines) <= 2, result.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, result.stderr[-2000:])


@pytest.mark.parametrize("flag,needle", [
    ("--model=wgan", "--model"), ("--latent_dim=0", "--latent_dim"), ("--lost_worker_timeout=0", "--lost_worker_timeout"), ("--train_steps=-3", "--train_steps"),
    ("--batch_size=ten", "--batch_size"), ("--eval_every=7", "--eval_every"), ("--mode=dance", "--mode"),
])
def test_bad_flag_values(tmp_path, flag, needle):
    result = _run(f"--workdir={tmp_path}/w", flag)
    _assert_clean_failure(result, needle)
    assert not os.path.exists(tmp_path / "w")  # nothing written for a run that never started


def test_missing_workdir():
    _assert_clean_failure(_run("--dataset=synthetic"), "--workdir")


@pytest.mark.slow  # run.py starts TensorFlow in a subprocess
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


def _flag_file(name, *more):
    from absl import flags

    import run  # noqa: F401  (defines the flags)
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS([sys.argv[0], f"--flagfile={os.path.join(ROOT, name)}", *more])
        return run.config_from_flags()
    finally:
        flags.FLAGS.unparse_flags()


def test_old_flag_names_still_set_the_renamed_fields():
    # --step and --rmsprop_eps were renamed; commands and flag files that use them still work.
    old = _flag_file("demo.flags", "--step=three_tape", "--rmsprop_eps=inside_sqrt")
    new = _flag_file("demo.flags", "--gradients=three_tape", "--rmsprop_epsilon_at=inside_sqrt")
    assert old == new and (old.gradients, old.rmsprop_epsilon_at) == ("three_tape", "inside_sqrt")
    assert _flag_file("demo.flags").gradients == "fused"


def test_folder_flags_train_the_demo_model_on_the_folder_given():
    from vaegan_tf.errors import ConfigError
    with pytest.raises(ConfigError, match="--data_dir"):
        _flag_file("folder.flags")
    folder, demo = _flag_file("folder.flags", "--data_dir=pictures"), _flag_file("demo.flags")
    assert (folder.dataset, folder.data_dir, folder.crop) == ("folder", "pictures", "square")
    where = {"workdir", "dataset", "data_dir", "crop", "skip_corrupt", "synthetic_images"}
    differ = {k for k, v in folder.to_dict().items() if v != demo.to_dict()[k]}
    assert differ <= where, differ - where


RECIPE_FIELDS = ("init", "dis_passes", "llike_stop_target", "dec_batch", "dis_batch", "gan_fakes",
                 "gan_loss", "gan_eps", "real_vs_gen_weight", "equilibrium_gate", "equilibrium",
                 "margin", "rmsprop_epsilon_at", "rmsprop_epsilon", "rmsprop_rho", "lr_schedule",
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


@pytest.mark.slow  # run.py trains in a subprocess
def test_a_training_run_prints_a_short_progress_line_and_no_start_up_noise(tmp_path):
    result = _run(f"--workdir={tmp_path}/w", "--dataset=synthetic", "--synthetic_images=120",
                  "--image_size=32", "--enc_width=8", "--dec_width=4", "--dis_width=4",
                  "--fc_width=32", "--latent_dim=8", "--batch_size=8", "--train_steps=4",
                  "--log_every=2", "--eval_every=2", "--image_every=2", "--checkpoint_every=2",
                  "--eval_batches=1")
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    lines = output.splitlines()
    assert not [l for l in lines if l.startswith(TF_NOISE) or "cuInit" in l], output[:3000]
    assert "ran out of data" not in output and "Epoch" not in output
    progress = [l for l in result.stdout.splitlines() if l.startswith("step ")]
    assert [l.split()[1] for l in progress] == ["2/4", "4/4"]
    assert all(len(l) <= 100 and "img/s" in l and "enc " in l and "dis " in l for l in progress)
    assert sum(l.startswith("  validation at step") for l in lines) == 2
    assert sum("Drawing 120 synthetic faces" in l for l in lines) == 1
    assert sum("Exported step 4:" in l and "vaegan.keras" in l for l in lines) == 1
    assert not [l for l in lines if "signature_serialization" in l or "Sharding callback" in l]


@pytest.mark.slow  # run.py starts TensorFlow in a subprocess
@pytest.mark.parametrize("mode", ["train", "benchmark"])
def test_checkpoint_is_refused_where_it_would_be_ignored(tmp_path, mode):
    result = _run(f"--workdir={tmp_path}/w", f"--mode={mode}", "--dataset=synthetic",
                  f"--checkpoint={tmp_path}/w/checkpoints/ckpt-2")
    _assert_clean_failure(result, "--checkpoint", f"--mode={mode}")
    assert result.returncode == 2 and not os.path.exists(tmp_path / "w")


def test_help_leads_with_what_a_newcomer_needs_and_lists_every_flag_once():
    result = _run("--help")
    assert result.returncode == 0 and result.stderr == ""
    text = result.stdout
    assert "--flagfile=demo.flags" in "\n".join(text.splitlines()[:5])
    start = text.split("Start here:\n")[1].split("\n\n")[0]
    order = [line.split("=")[0].strip() for line in start.splitlines() if line.startswith("  --")]
    assert order[:5] == ["--flagfile", "--workdir", "--mode", "--model", "--dataset"]
    listed = [line.split("=")[0].strip()[2:] for line in text.splitlines() if line.startswith("  --")]
    fields = [f.name for f in config_lib.fields()]
    assert sorted(set(listed)) == sorted(listed)  # each once
    assert set(fields) <= set(listed) and {"verbose", "benchmark_steps"} <= set(listed)
    assert text.index("\nThe model:") < text.index("\nData:") < text.index("\nOffline modes")
