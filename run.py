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

from vaegan_tf import config as config_lib  # noqa: E402
from vaegan_tf import console  # noqa: E402
from vaegan_tf.errors import Interrupted, UserError  # noqa: E402

MODES = ("train", "evaluate", "export", "sample", "attributes", "embed", "benchmark")

HELP = {
    "model": "which of the paper's five models to train",
    "latent_dim": "size of the latent code z",
    "enc_width": "Enc's first conv width (Table 1: 64; later layers 2x, 4x)",
    "dec_width": "Dec's last convT width (Table 1: 32; earlier layers 4x, 8x)",
    "dis_width": "Dis's first conv width (Table 1: 32; later layers 4x, 8x)",
    "fc_width": "Enc's hidden FC width (Table 1: 2048); Dis uses a quarter",
    "image_size": "image side in pixels, a multiple of 8",
    "gamma": "weight of the reconstruction term in Dec's loss (γ, Eq. 9)",
    "init": "weight initialisation: deeppy (authors, U(+-1/sqrt(3 fan_in))) or glorot (Keras)",
    "dis_passes": "two (authors: similarity pass to Dis_l on [x~, x] that never trains Dis, then "
                  "a GAN pass on [x, fakes]) or one (a single pass on [x, x~, x_p], paper literal)",
    "llike_stop_target": "no gradient through the target Dis_l(x) of L_llike (authors)",
    "dec_batch": "Dec(z) and Dec(z_p) in separate calls (authors) or one joint call",
    "dec_statistics": "which separate Dec calls update the BN statistics inference uses: recon "
                      "(authors), prior (what samples are drawn from) or both",
    "gan_fakes": "fakes the GAN sees: prior = Dec(z_p) only (authors), both (Eq. 10), "
                 "recon = Dec(Enc(x)) only",
    "dis_batch": "Dis BatchNorm statistics within a pass: joint over its sources (authors) or "
                 "separate per source",
    "gan_loss": "Dec's GAN term: saturating (authors, log(1-D)) or non_saturating (-log D)",
    "gan_eps": "epsilon inside the GAN logs, log(D + eps) (authors: 1e-3; 0 = exact)",
    "real_vs_gen_weight": "weight of real images in Dis's loss, fakes get the rest (authors: 0.5)",
    "disl_from": "vae_disl: workdir of an earlier gan/vaegan run whose Dis_l is the similarity",
    "equilibrium_gate": "skip Dis/Dec updates when out of equilibrium (authors' code)",
    "equilibrium": "equilibrium gate centre",
    "margin": "equilibrium gate half-width",
    "learning_rate": "RMSProp learning rate for every network (the schedule's start)",
    "lr_end": "--lr_schedule=gamma: the rate reached at --train_steps",
    "lr_power": "--lr_schedule=gamma: exponent p of lr = a - (t/T)^p (a - b)",
    "lr_epoch_steps": "--lr_schedule=gamma: steps between rate changes (authors: 250)",
    "rmsprop_rho": "RMSProp moving-average decay",
    "rmsprop_epsilon": "RMSProp epsilon",
    "rmsprop_eps": "where RMSProp's epsilon goes: after_sqrt (authors, deeppy) or inside_sqrt (Keras)",
    "lr_schedule": "gamma (authors' annealer), constant (paper), or polynomial decay to 0",
    "train_split": "images trained on: train+val (authors) or train",
    "weight_decay": "decoupled weight decay (0 = off)",
    "batch_size": "images per training step",
    "train_steps": "total optimizer steps; a resumed run continues to this total",
    "seed": "random seed for weights, noise, shuffling and synthetic data",
    "deterministic": "deterministic TF ops: a killed and resumed run ends bit-identical",
    "divergence_patience": "non-finite steps in a row before rolling back to the last checkpoint",
    "lr_backoff": "learning-rate factor at each divergence rollback",
    "max_recoveries": "divergence rollbacks allowed before stopping with an error",
    "dataset": "synthetic (embedded demo data), celeba (a CelebA folder), tfds, or lfw (LFW "
               "with Kumar et al.'s lfw_attributes.txt)",
    "data_dir": "dataset folder (default for synthetic: WORKDIR/data)",
    "crop": "original (authors' CelebA 148x148 + blur), center108 (DCGAN) or center150 "
            "(authors' LFW crop)",
    "synthetic_images": "how many images the synthetic dataset draws",
    "shuffle_buffer": "shuffle buffer in examples, only for --dataset=tfds --cache=none (all else is "
                      "read in a full per-pass permutation)",
    "augment": "light augmentation: small shifts, zoom, rotation, gamma/contrast/hue jitter",
    "cache": "cache of preprocessed crops: auto (memory if it fits, else file if --cache_dir), "
             "memory, file (TFRecords in --cache_dir) or none",
    "cache_dir": "folder for --cache=file (default when training: WORKDIR/cache)",
    "skip_corrupt": "skip corrupt or truncated images (counted and reported) instead of stopping",
    "tfds_manual_dir": "--dataset=tfds: folder of CelebA's five original files "
                       "(default: DATA_DIR/downloads/manual)",
    "log_every": "steps between TensorBoard scalar writes (one Keras epoch)",
    "eval_every": "steps between validation passes (multiple of --log_every)",
    "eval_batches": "batches per validation pass",
    "image_every": "steps between sample/reconstruction grids (multiple of --log_every)",
    "checkpoint_every": "steps between checkpoints",
    "keep_checkpoints": "how many checkpoints to keep",
    "export_every": "steps between SavedModel exports to WORKDIR/export (0 = only at the end)",
    "checkpoint": "export/evaluate/attributes/sample/embed: the checkpoint to read, a prefix "
                  "(WORKDIR/checkpoints/ckpt-400) or a folder (its newest); default: the newest",
    "classifier_dir": "evaluate/attributes: attribute-classifier cache, shareable across runs "
                      "on the same data (default WORKDIR/classifier)",
    "classifier_steps": "training steps of the attribute classifier (trained once, then cached)",
    "inception_weights": "evaluate: local InceptionV3 no-top .h5 weights; adds real FID",
    "eval_images": "evaluate/attributes/embed: images per split (and samples) the metrics and "
                   "the Projector use, at most",
    "knn_dataset": "evaluate: kNN on a prepared TFDS dataset's label (e.g. cifar10) instead of "
                   "the attributes",
    "knn_data_dir": "evaluate: TFDS data_dir holding --knn_dataset (default: TFDS's own)",
    "edit_attributes": "attributes: comma-separated attributes pictured (default: all)",
    "sample_seed": "evaluate/attributes/sample: seed of prior samples and pictured faces",
    "conditional": "condition Enc, Dec and Dis on the attribute vector y (Sec 4.2)",
    "num_attributes": "length of y (filled from the dataset when --conditional; leave 0)",
    "precision": "auto (mixed_bfloat16 where the device has native bf16: AVX-512 BF16/AMX CPUs, "
                 "GPUs from compute capability 8.0; else float32), float32, mixed_bfloat16 or "
                 "mixed_float16 (GPUs)",
    "step": "train step: fused (shared cotangents, least backward work) or three_tape (reference)",
    "jit_compile": "XLA-compile the train step",
    "steps_per_execution": "train steps per call into the compiled step (Keras's callbacks run "
                           "once per call); must divide --log_every and --checkpoint_every",
    "strategy": "default (one device), mirrored (all local GPUs) or multi_worker (TF_CONFIG)",
    "num_cpu_devices": "split the CPU into N logical devices (to try strategies on a CPU)",
    "sync_batchnorm": "BatchNorm statistics over the global batch across replicas",
    "protocol": "evaluate: metrics (default) or table2 (paper's Table 2, conditional models)",
    "runs": "evaluate --protocol=table2: repetitions over seeds for mean and std",
    "regressor_dir": "table2: attribute-regressor cache (default WORKDIR/regressor)",
    "regressor_steps": "table2: training steps of the attribute regressor (once, then cached)",
}

flags.DEFINE_enum("mode", "train", MODES, "what to do")
flags.DEFINE_string("workdir", None, "run folder: config, checkpoints, TensorBoard, samples")
flags.DEFINE_integer("verbose", 1, "training progress: 0 silent, 1 a line every --log_every steps "
                     "(redrawn live on a terminal), 2 only those lines")
flags.DEFINE_bool("benchmark_compare", False, "--mode=benchmark: also time every --step and "
                  "precision, and the paper-literal recipe's default step, in turns in this "
                  "process (ratios against float32 three_tape and the paper-literal step)")
flags.DEFINE_bool("benchmark_profile", False, "--mode=benchmark: also trace two steps with the "
                  "TensorFlow profiler into WORKDIR/profile and print seconds per op type")
flags.DEFINE_integer("benchmark_steps", 5, "--mode=benchmark: timed training steps (median)")
flags.DEFINE_integer("benchmark_warmup", 2, "--mode=benchmark: untimed steps first (tracing)")
flags.DEFINE_integer("benchmark_matmul_size", 0, "--mode=benchmark: side of the square matmuls "
                     "that measure the peak (0: 2048 on a CPU, 8192 on a GPU)")

_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool,
           str: flags.DEFINE_string}
_CHOICES = {"model": config_lib.MODELS, "dataset": config_lib.DATASETS, "crop": config_lib.CROPS,
            "gan_fakes": config_lib.GAN_FAKES, "gan_loss": config_lib.GAN_LOSSES,
            "lr_schedule": config_lib.LR_SCHEDULES, "cache": config_lib.CACHES,
            "dis_batch": config_lib.DIS_BATCHES, "precision": config_lib.PRECISIONS,
            "step": config_lib.STEPS, "strategy": config_lib.STRATEGIES,
            "protocol": config_lib.PROTOCOLS, "dis_passes": config_lib.DIS_PASSES,
            "dec_batch": config_lib.DEC_BATCHES,
            "dec_statistics": config_lib.DEC_STATISTICS, "init": config_lib.INITS,
            "rmsprop_eps": config_lib.RMSPROP_EPS, "train_split": config_lib.TRAIN_SPLITS}
for _field in dataclasses.fields(config_lib.Config):
    if _field.name in _CHOICES:
        flags.DEFINE_enum(_field.name, _field.default, _CHOICES[_field.name], HELP[_field.name])
    else:
        _DEFINE[type(_field.default)](_field.name, _field.default, HELP[_field.name])

FLAGS = flags.FLAGS

# --help: what a newcomer needs first, then the rest by concern (Config's sections, in its order).
NEWCOMER_FLAGS = ("flagfile", "workdir", "mode", "model", "dataset", "data_dir", "train_steps")
SECTIONS = (("model", "The model"), ("learning_rate", "Optimisation"),
            ("precision", "Speed and devices"), ("dataset", "Data"),
            ("log_every", "Logging, checkpoints, exports"),
            ("checkpoint", "Offline modes (evaluate, attributes, sample, embed, export)"))
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
    fields = [f.name for f in dataclasses.fields(config_lib.Config)]
    starts = {fields.index(first): title for first, title in SECTIONS}
    lines = [USAGE, "Start here:", *map(_flag_line, NEWCOMER_FLAGS)]
    for i, name in enumerate(fields):
        if i in starts:
            lines += ["", f"{starts[i]}:"]
        if name not in NEWCOMER_FLAGS:
            lines.append(_flag_line(name))
    lines += ["", "Console and --mode=benchmark:"]
    lines += [_flag_line(n) for n in ("verbose", "benchmark_compare", "benchmark_profile",
                                      "benchmark_steps", "benchmark_warmup",
                                      "benchmark_matmul_size")]
    lines += ["", "absl's own flags and listing: python run.py --helpfull"]
    return "\n".join(lines) + "\n"


def config_from_flags() -> config_lib.Config:
    return config_lib.Config(**{f.name: FLAGS[f.name].value for f in dataclasses.fields(config_lib.Config)})


def run(mode: str, config: config_lib.Config, workdir: str) -> None:
    if config.checkpoint and mode in ("train", "benchmark"):
        raise UserError(f"--checkpoint is read by --mode=evaluate, export, sample, attributes and "
                        f"embed; --mode={mode} "
                        + ("resumes from the newest checkpoint in WORKDIR/checkpoints"
                           if mode == "train" else "times fresh networks"))
    if mode == "train":
        from vaegan_tf import train  # imported late: TensorFlow start-up is slow
        train.train_and_evaluate(config, workdir, verbose=FLAGS.verbose)
    elif mode == "export":
        # The run's own config.json describes the networks; model flags are not needed here.
        from export import saved_model
        saved_model.export_from_workdir(workdir, config.checkpoint or None)
    elif mode in ("evaluate", "attributes", "sample", "embed"):
        # The run's config.json describes the networks; flags add what to measure (restore.py).
        from vaegan_tf import restore
        explicit = {f.name for f in dataclasses.fields(config_lib.Config) if FLAGS[f.name].present}
        config = restore.run_config(workdir, config, explicit)
        if mode == "evaluate":
            from vaegan_tf import evaluate
            print(evaluate.evaluate_mode(config, workdir))
        elif mode == "attributes":
            from vaegan_tf import attributes
            print(attributes.format_table(attributes.attribute_mode(config, workdir)))
        elif mode == "embed":
            from vaegan_tf import embed
            record = embed.embed_mode(config, workdir)
            print(f"{record['points']} points in {record['folder']}: "
                  f"tensorboard --logdir {os.path.join(workdir, 'tensorboard')}, Projector tab")
        else:
            from vaegan_tf import sampling
            for path in sampling.sample_mode(config, workdir):
                print(path)
    elif mode == "benchmark":
        from vaegan_tf import benchmark
        benchmark.run_benchmark(config, workdir, steps=FLAGS.benchmark_steps,
                                warmup=FLAGS.benchmark_warmup, peak_size=FLAGS.benchmark_matmul_size,
                                compare=FLAGS.benchmark_compare, profile=FLAGS.benchmark_profile)
    else:
        raise UserError(f"--mode={mode} is not available in this version; "
                        "use --mode=train, evaluate, attributes, sample, embed or export")


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
        console.import_tensorflow()  # before any module that imports it: its start-up notices
        run(FLAGS.mode, config, FLAGS.workdir)
    except UserError as e:
        logging.flush()
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as e:  # a signal: the run saved a checkpoint and stops cleanly
        logging.flush()
        print(str(e), file=sys.stderr)
        sys.exit(128 + e.signum)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    if any(arg in ("-h", "--help", "-?") for arg in sys.argv[1:]):
        sys.stdout.write(help_text())  # absl's own --help lists ~90 flags A-Z and exits 1
        sys.exit(0)
    app.run(main)
