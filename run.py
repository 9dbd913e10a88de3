"""Command line for vaegan_tf: `python run.py --flagfile=celeba.flags [--flag=value ...]`.

This is the only place that reads flags: it turns them into a frozen Config and calls the library.
A user's mistake (bad flag value, missing data, corrupt file) ends in one line on stderr and exit
status 2; anything else is a bug and keeps its traceback.
"""

import dataclasses
import os
import signal
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up chatter

from absl import app, flags, logging  # noqa: E402

# `import vaegan_tf` imports TensorFlow to register the model's classes with Keras; here it waits
# for console.import_tensorflow, so --help and flag errors answer at once (vaegan_tf/__init__.py).
os.environ["VAEGAN_TF_LIGHT_IMPORT"] = "1"
from vaegan_tf import config as config_lib  # noqa: E402
from vaegan_tf import console  # noqa: E402
from vaegan_tf.errors import Interrupted, UserError, WorkerLost  # noqa: E402

del os.environ["VAEGAN_TF_LIGHT_IMPORT"]  # processes started from here import as usual

MODES = ("train", "evaluate", "export", "sample", "attributes", "embed", "benchmark", "app")

flags.DEFINE_enum("mode", "train", MODES, "what to do")
flags.DEFINE_string("workdir", None, "run folder: config, checkpoints, TensorBoard, samples")
flags.DEFINE_integer("verbose", 1, "training progress: 0 silent, 1 a line every --log_every steps "
                     "(redrawn live on a terminal), 2 only those lines")
flags.DEFINE_bool("benchmark_compare", False, "--mode=benchmark: also time every --gradients and "
                  "precision, and the paper-literal recipe's default step, in turns in this "
                  "process (ratios against float32 three_tape and the paper-literal step)")
flags.DEFINE_bool("benchmark_profile", False, "--mode=benchmark: also trace two steps with the "
                  "TensorFlow profiler into WORKDIR/profile and print seconds per op type")
flags.DEFINE_integer("benchmark_steps", 5, "--mode=benchmark: timed training steps (median)")
flags.DEFINE_integer("benchmark_warmup", 2, "--mode=benchmark: untimed steps first (tracing)")
flags.DEFINE_integer("benchmark_matmul_size", 0, "--mode=benchmark: side of the square matmuls "
                     "that measure the peak (0: 2048 on a CPU, 8192 on a GPU)")
# Where the page listens, not what it shows: like the benchmark's flags, never part of a Config.
flags.DEFINE_string("app_host", "127.0.0.1", "--mode=app: the address the page listens on; "
                    "0.0.0.0 opens it, without authentication, to the whole network (docs/app.md)")
flags.DEFINE_integer("app_port", 7860, "--mode=app: the port the page listens on")

_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool,
           str: flags.DEFINE_string}
# One flag per Config field, its help and choices from the field's own metadata (config.py).
for _field in config_lib.fields():
    if _field.metadata["choices"]:
        flags.DEFINE_enum(_field.name, _field.default, _field.metadata["choices"],
                          _field.metadata["help"])
    else:
        _DEFINE[type(_field.default)](_field.name, _field.default, _field.metadata["help"])

# Old flag names, so commands and flag files written before a rename still work.
for _old, _new in config_lib.RENAMED.items():
    flags.DEFINE_alias(_old, _new)

FLAGS = flags.FLAGS

# --help: what a newcomer needs first, then the rest by concern (Config's groups, in their order).
NEWCOMER_FLAGS = ("flagfile", "workdir", "mode", "model", "dataset", "data_dir", "train_steps")
USAGE = """\
vaegan_tf: the VAE/GAN of Larsen et al., "Autoencoding beyond pixels" (ICML 2016).

  python run.py --flagfile=demo.flags                    # the demo: synthetic faces, ~9 min on 2 CPUs
  python run.py --flagfile=celeba.flags --data_dir=DIR --workdir=runs/celeba    # CelebA
  python run.py --mode=evaluate --workdir=runs/demo      # metrics of a trained run
  tensorboard --logdir runs/                             # watch and compare runs
"""


def _flag_line(name: str) -> str:
    if name == "flagfile":
        return "  --flagfile=FILE  flags from a file: demo.flags, celeba.flags, celeba_paper.flags"
    flag = FLAGS[name]
    default = (flag.default_as_str or "").strip("'")
    return textwrap.fill(f"--{name}={default}  {flag.help}", width=100, initial_indent="  ",
                         subsequent_indent="      ", break_on_hyphens=False)


def help_text() -> str:
    """The --help page: usage, the flags a newcomer needs, then every other flag by concern."""
    lines = [USAGE, "Start here:", *map(_flag_line, NEWCOMER_FLAGS)]
    for _, group, title in config_lib.GROUPS:
        lines += ["", f"{title}:"]
        lines += [_flag_line(f.name) for f in dataclasses.fields(group)
                  if f.name not in NEWCOMER_FLAGS]
    lines += ["", "Console, --mode=benchmark and --mode=app:"]
    lines += [_flag_line(n) for n in ("verbose", "benchmark_compare", "benchmark_profile",
                                      "benchmark_steps", "benchmark_warmup",
                                      "benchmark_matmul_size", "app_host", "app_port")]
    lines += ["", "absl's own flags and listing: python run.py --helpfull"]
    return "\n".join(lines) + "\n"


def config_from_flags() -> config_lib.Config:
    return config_lib.Config(**{f.name: FLAGS[f.name].value for f in config_lib.fields()})


def run(mode: str, config: config_lib.Config, path: str) -> None:
    assert mode in MODES, mode  # --mode is a DEFINE_enum of MODES: absl refuses any other
    from vaegan_tf.workdir import Workdir  # imported late: TensorFlow start-up is slow
    workdir = Workdir(path)  # the one Workdir of this mode, passed down
    if config.checkpoint and mode in ("train", "benchmark"):
        raise UserError(f"--checkpoint is read by --mode=evaluate, export, sample, attributes, "
                        f"embed and app; --mode={mode} "
                        + ("resumes from the newest checkpoint in WORKDIR/checkpoints"
                           if mode == "train" else "times fresh networks"))
    if mode == "train":
        from export.saved_model import exports  # imported late: TensorFlow start-up is slow
        from vaegan_tf.training import train
        train.train_mode(config, workdir, verbose=FLAGS.verbose,
                         chief_callbacks=[exports(config.export_every)])
    elif mode == "export":
        # The run's own config.json describes the networks; model flags are not needed here.
        from export import saved_model
        saved_model.export_mode(workdir, config.checkpoint or None)
    elif mode in ("evaluate", "attributes", "sample", "embed", "app"):
        # The run's config.json describes the networks; flags add what to measure (run_record.py).
        from vaegan_tf import run_record
        explicit = {f.name for f in config_lib.fields() if FLAGS[f.name].present}
        offline(mode, run_record.offline_config(workdir, config, explicit), workdir)
    else:  # benchmark
        from vaegan_tf.perf import benchmark
        benchmark.benchmark_mode(
            config, workdir, steps=FLAGS.benchmark_steps, warmup=FLAGS.benchmark_warmup,
            peak_size=FLAGS.benchmark_matmul_size, compare=FLAGS.benchmark_compare,
            profile=FLAGS.benchmark_profile)


def offline(mode: str, config: config_lib.Config, workdir) -> None:
    """The modes that read a trained run and print what they wrote."""
    if mode == "evaluate":
        from vaegan_tf.evaluation import evaluate
        print(evaluate.evaluate_mode(config, workdir))
    elif mode == "attributes":
        from vaegan_tf.evaluation import attributes
        print(attributes.format_table(attributes.attributes_mode(config, workdir)))
    elif mode == "app":
        from vaegan_tf.app import server  # Gradio is imported in there, and only there
        server.app_mode(config, workdir, host=FLAGS.app_host, port=FLAGS.app_port)
    elif mode == "embed":
        from vaegan_tf.evaluation import embed
        record = embed.embed_mode(config, workdir)
        print(f"{record['points']} points in {record['folder']}: "
              f"tensorboard --logdir {workdir.tensorboard}, Projector tab")
    else:
        from vaegan_tf.evaluation import sampling
        for path in sampling.sample_mode(config, workdir):
            print(path)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    # Under a file-size limit a write then fails with EFBIG, reported like a full disk (one line
    # naming the file), instead of the signal killing the process mid-write.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        if not FLAGS.workdir:
            raise UserError("--workdir is required: the folder for checkpoints, TensorBoard and samples")
        config = config_from_flags()
        console.filter_native_stderr()  # TensorFlow's notices about the CPU, for the whole run
        console.import_tensorflow()  # before any module that imports it: its start-up notices
        run(FLAGS.mode, config, FLAGS.workdir)
    except UserError as e:
        logging.flush()
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except (Interrupted, WorkerLost) as e:  # a clean stop: rerunning resumes
        logging.flush()
        print(str(e), file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    if any(arg in ("-h", "--help", "-?") for arg in sys.argv[1:]):
        sys.stdout.write(help_text())  # absl's own --help lists ~90 flags A-Z and exits 1
        sys.exit(0)
    app.run(main)
