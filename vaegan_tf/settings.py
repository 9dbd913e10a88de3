"""The five groups of run settings, each a frozen dataclass of fields that carry their own --help
text, choices and role (config.py composes them into Config and derives every set from the marks).

Defaults are the authors' CelebA recipe (andersbll/autoencoding_beyond_pixels, celeba_aegan.py
with deeppy), which produced the paper's figures; celeba_paper.flags reads the paper literally.
Each "authors:" comment names the choice the default takes and the literal alternative.
"""

from __future__ import annotations

import dataclasses
from typing import Any

MODELS = ("vaegan", "vae", "vae_disl", "vaegan_dis0", "gan")
DATASETS = ("synthetic", "celeba", "tfds", "lfw", "folder")
# --crop: CROPS, box:TOP,LEFT,HEIGHT,WIDTH (config_checks.parse_box) or auto, resolved per dataset:
AUTO_CROPS = {"lfw": "center150", "folder": "square"}  # every other dataset: original
CACHES = ("auto", "memory", "file", "none")
GAN_FAKES = ("both", "prior", "recon")
DIS_BATCHES = ("joint", "separate")
GAN_LOSSES = ("non_saturating", "saturating")
DIS_PASSES = ("two", "one")
DEC_BATCHES = ("separate", "joint")
DEC_STATISTICS = ("recon", "prior", "both")
INITS = ("deeppy", "glorot")
RMSPROP_EPSILON_AT = ("after_sqrt", "inside_sqrt")
LR_SCHEDULES = ("gamma", "constant", "polynomial")
TRAIN_SPLITS = ("train+val", "train")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
GRADIENTS = ("fused", "three_tape")
STRATEGIES = ("default", "mirrored", "multi_worker")
PROTOCOLS = ("metrics", "table2")
DEC_CONDITIONING = ("every", "input")
DIS_CONDITIONING = ("projection", "fc")

# What a training field is to a run, marked once on the field (`role=`). The offline group's
# fields need no mark: the group is theirs (read only by the offline modes, never recorded).
SHAPES = "shapes"  # the default: it defines the run, so a resumption must keep it
RESUME_SAFE = "resume_safe"  # how long or loudly it runs, where the same data is: may change
ROLES = (SHAPES, RESUME_SAFE)


def _field(default: Any, help: str, choices: tuple[str, ...] = (), *, role: str = SHAPES,
           overridable: bool = False) -> Any:
    """A setting with its --help text and, for a string of a fixed set, its choices: run.py
    defines each flag from these and config_checks.validate checks them, so nothing drifts.

    role: SHAPES or RESUME_SAFE (above). overridable: an offline mode's command line may replace
    the recorded value when the flag is given (the data moved, a smaller batch fits).
    """
    assert role in ROLES, role
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices,
                                                        "role": role, "overridable": overridable})


@dataclasses.dataclass(frozen=True)
class Networks:
    """The model: which of the paper's five, its networks, its losses and its conditioning."""

    model: str = _field("vaegan", "which of the paper's five models to train", MODELS)
    latent_dim: int = _field(128, "size of the latent code z")
    enc_width: int = _field(64, "Enc's first conv width (Table 1: 64; later layers 2x, 4x)")
    dec_width: int = _field(32, "Dec's last convT width (Table 1: 32; earlier layers 4x, 8x)")
    dis_width: int = _field(32, "Dis's first conv width (Table 1: 32; later layers 4x, 8x)")
    fc_width: int = _field(2048, "Enc's hidden FC width (Table 1: 2048); Dis uses a quarter")
    image_size: int = _field(64, "image side in pixels, a multiple of 8")
    gamma: float = _field(1e-6,
        "weight of the reconstruction term in Dec's loss (γ, Eq. 9; authors' final code: 1e-6)")
    init: str = _field("deeppy",
        "weight initialisation: deeppy (authors, U(+-1/sqrt(3 fan_in))) or glorot (Keras)", INITS)
    # authors: two Dis passes, similarity (Dis up to Dis_l on [x̃, x], never updating Dis) and GAN
    # (Dis on [x, fakes]); one: a single pass on [x, x̃, fakes] serves both (the paper read literally).
    dis_passes: str = _field("two",
        "two (authors: similarity pass to Dis_l on [x~, x] that never trains Dis, then"
        " a GAN pass on [x, fakes]) or one (a single pass on [x, x~, x_p], paper "
        "literal)", DIS_PASSES)
    llike_stop_target: bool = _field(True,
        "no gradient through the target Dis_l(x) of L_llike (authors)")
    dec_batch: str = _field("separate",
        "Dec(z) and Dec(z_p) in separate calls (authors) or one joint call", DEC_BATCHES)
    # Which separate Dec calls update the BN moving statistics that inference (samples, exports)
    # uses. authors: recon (their Dec(z_p) ran on a copy with statistics of its own); prior: the
    # codes samples are drawn from, and the GAN's fakes; both: each call. Training itself always
    # normalises with batch statistics, so this changes only what inference sees. A model with
    # one Dec call (vae, gan) updates from it; --dec_batch=joint from the joint call.
    dec_statistics: str = _field("recon",
        "which separate Dec calls update the BN statistics inference uses: recon "
        "(authors), prior (what samples are drawn from) or both", DEC_STATISTICS)
    # Fakes the GAN sees. authors (CelebA/LFW runs): only Dec(z_p); both: Eq. 10's Dec(Enc(x)) too.
    gan_fakes: str = _field("prior",
        "fakes the GAN sees: prior = Dec(z_p) only (authors), both (Eq. 10), recon = "
        "Dec(Enc(x)) only", GAN_FAKES)
    # Dis's BN batch statistics within a pass: one call over its sources (authors) or per source.
    dis_batch: str = _field("joint",
        "Dis BatchNorm statistics within a pass: joint over its sources (authors) or "
        "separate per source", DIS_BATCHES)
    # Dec's GAN term. authors: saturating log(1 − D(G)), Dec ascending Dis's own loss;
    # non_saturating: −log D(G) (Goodfellow et al. 2014).
    gan_loss: str = _field("saturating",
        "Dec's GAN term: saturating (authors, log(1-D)) or non_saturating (-log D)", GAN_LOSSES)
    gan_eps: float = _field(1e-3,
        "epsilon inside the GAN logs, log(D + eps) (authors: 1e-3; 0 = exact)")
    real_vs_gen_weight: float = _field(0.5,
        "weight of real images in Dis's loss, fakes get the rest (authors: 0.5)")
    disl_from: str = _field("",
        "vae_disl: workdir of an earlier gan/vaegan run whose Dis_l is the similarity",
        role=RESUME_SAFE)
    # Sec 4.2: y is concatenated to the top FC input of Enc and Dis and to z at Dec's input.
    conditional: bool = _field(False,
        "condition Enc, Dec and Dis on the attribute vector y (Sec 4.2)")
    num_attributes: int = _field(0,
        "length of y (filled from the dataset when --conditional; leave 0)")
    # Where y enters (networks.py; docs/models.md measures both forms). The paper: Dec's input
    # (input) and Dis's FC input (fc). The defaults give y more say: every convT layer of Dec
    # (the authors' cond_vaegan scripts) and a projection discriminator (Miyato & Koyama 2018).
    dec_conditioning: str = _field("every",
        "--conditional: y at Dec's input only (input, paper) or also at every convT layer "
        "(every)", DEC_CONDITIONING)
    dis_conditioning: str = _field("projection",
        "--conditional: y concatenated to Dis's FC input (fc, paper) or a projection "
        "discriminator, logit + <V y, phi(x)> (projection)", DIS_CONDITIONING)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Optimisation: the optimiser and its schedule, the equilibrium gate, how long, and what to
    do when training diverges."""

    equilibrium_gate: bool = _field(True,
        "skip Dis/Dec updates when out of equilibrium (authors' code)")
    equilibrium: float = _field(0.68, "equilibrium gate centre")
    margin: float = _field(0.35, "equilibrium gate half-width")
    learning_rate: float = _field(0.025 / 64,
        "RMSProp learning rate of every network, the schedule's start (authors: 0.025 on losses "
        "summed over a batch of 64)")
    lr_end: float = _field(1e-5 / 64,
        "--lr_schedule=gamma: the rate reached at --train_steps (authors: 1e-5 on summed losses)")
    lr_power: float = _field(0.75, "--lr_schedule=gamma: exponent p of lr = a - (t/T)^p (a - b)")
    lr_epoch_steps: int = _field(250,
        "--lr_schedule=gamma: steps between rate changes (authors: 250)")
    rmsprop_rho: float = _field(0.9, "RMSProp moving-average decay")
    rmsprop_epsilon: float = _field(1e-8,
        "RMSProp epsilon (authors, deeppy: 1e-8; Keras's default: 1e-7)")
    rmsprop_epsilon_at: str = _field("after_sqrt",
        "where RMSProp's epsilon goes: after_sqrt (authors, deeppy) or inside_sqrt "
        "(Keras); --rmsprop_eps is the old name", RMSPROP_EPSILON_AT)
    # authors: GammaAnnealer lr = a − (t/T)^0.75 (a − b), per 250-step epoch; constant (paper);
    # polynomial: linear decay to 0.
    lr_schedule: str = _field("gamma",
        "gamma (authors' annealer), constant (paper), or polynomial decay to 0", LR_SCHEDULES)
    weight_decay: float = _field(0.0,
        "decoupled weight decay (0 = off; the authors' code used 1e-5, the paper none)")
    batch_size: int = _field(64, "images per training step (paper: 64)", overridable=True)
    train_steps: int = _field(62_500,
        "total optimizer steps, which a resumed run continues to (authors: 250 epochs of 250 "
        "batches)", role=RESUME_SAFE)
    train_split: str = _field("train+val",
        "images trained on: train+val (authors) or train", TRAIN_SPLITS)
    seed: int = _field(0, "random seed for weights, noise, shuffling and synthetic data")
    deterministic: bool = _field(False,
        "deterministic TF ops: a killed and resumed run ends bit-identical", role=RESUME_SAFE)
    divergence_patience: int = _field(20,
        "non-finite steps in a row before rolling back to the last checkpoint", role=RESUME_SAFE)
    lr_backoff: float = _field(0.5, "learning-rate factor at each divergence rollback",
        role=RESUME_SAFE)
    max_recoveries: int = _field(3, "divergence rollbacks allowed before stopping with an error",
        role=RESUME_SAFE)


@dataclasses.dataclass(frozen=True)
class Data:
    """The data: which dataset, where, how it is cropped, split, cached and augmented."""

    dataset: str = _field("celeba",
        "synthetic (embedded demo data), celeba (a CelebA folder), tfds, lfw (LFW with Kumar et "
        "al.'s lfw_attributes.txt), or folder (every picture under --data_dir)", DATASETS)
    data_dir: str = _field("", "dataset folder (default for synthetic: WORKDIR/data)",
        role=RESUME_SAFE, overridable=True)
    crop: str = _field("auto",
        "original (authors' CelebA 148x148 + blur), center108 (DCGAN), center150 (authors' LFW "
        "crop), square (the largest centred square), box:TOP,LEFT,HEIGHT,WIDTH (pixels), or auto: "
        "center150 for lfw, square for folder, else original")
    attributes_csv: str = _field("",
        "--dataset=folder: CSV of attributes, a file-name column (path under --data_dir) then one "
        "column per attribute, 0/1 or -1/1; enables conditional models and attribute modes",
        role=RESUME_SAFE)
    val_fraction: float = _field(0.1,
        "--dataset=folder: share of pictures in the validation split (by a hash of each path)")
    test_fraction: float = _field(0.1,
        "--dataset=folder: share of pictures in the test split (by a hash of each path)")
    synthetic_images: int = _field(4000, "how many images the synthetic dataset draws")
    shuffle_buffer: int = _field(10_000,
        "shuffle buffer in examples, only for --dataset=tfds --cache=none (all else is read in a "
        "full per-pass permutation)")
    augment: bool = _field(False,
        "light augmentation: small shifts, zoom, rotation, gamma/contrast/hue jitter")
    cache: str = _field("auto",
        "cache of preprocessed crops: auto (memory if it fits, else file if --cache_dir), "
        "memory, file (arrays in --cache_dir) or none", CACHES, role=RESUME_SAFE)
    cache_dir: str = _field("", "folder for --cache=file (default when training: WORKDIR/cache)",
        role=RESUME_SAFE)
    skip_corrupt: bool = _field(False,
        "skip corrupt or truncated images (counted and reported) instead of stopping; always on "
        "for --dataset=folder", role=RESUME_SAFE)
    tfds_manual_dir: str = _field("",
        "--dataset=tfds: folder of CelebA's five original files (default: "
        "DATA_DIR/downloads/manual)", role=RESUME_SAFE)

    def __post_init__(self):
        # Defaults that depend on the dataset, resolved here so config.json records what ran.
        if self.crop == "auto":
            object.__setattr__(self, "crop", AUTO_CROPS.get(self.dataset, "original"))
        if self.dataset == "folder":  # a folder of anyone's pictures holds a few broken ones
            object.__setattr__(self, "skip_corrupt", True)


@dataclasses.dataclass(frozen=True)
class Run:
    """How a run goes: speed and devices, then logging, validation, checkpoints and exports."""

    precision: str = _field("float32",
        "float32, mixed_bfloat16 (CPUs with AVX-512 BF16 or AMX, GPUs), mixed_float16 (GPUs), or "
        "auto: mixed_bfloat16 where the training device computes bfloat16 natively, else float32 "
        "(devices.py; docs/performance.md)", PRECISIONS)
    gradients: str = _field("fused",
        "how the train step computes the networks' gradients: fused (shared cotangents, least "
        "backward work) or three_tape (reference); --step is the old name", GRADIENTS,
        role=RESUME_SAFE)
    jit_compile: bool = _field(False, "XLA-compile the train step", role=RESUME_SAFE)
    steps_per_execution: int = _field(1,
        "train steps per call into the compiled step (Keras's callbacks run once per call); "
        "must divide --log_every and --checkpoint_every", role=RESUME_SAFE)
    strategy: str = _field("default",
        "default (one device), mirrored (all local GPUs) or multi_worker (TF_CONFIG)", STRATEGIES,
        role=RESUME_SAFE)
    num_cpu_devices: int = _field(0,
        "split the CPU into N logical devices (to try strategies on a CPU)", role=RESUME_SAFE)
    sync_batchnorm: bool = _field(False,
        "BatchNorm statistics over the global batch across replicas", role=RESUME_SAFE)
    lost_worker_timeout: int = _field(60,
        "--strategy=multi_worker: seconds without a heartbeat after which a worker counts as "
        "lost and the others stop (docs/faults.md)", role=RESUME_SAFE)

    log_every: int = _field(100, "steps between TensorBoard scalar writes and progress lines (a log interval)",
        role=RESUME_SAFE)
    eval_every: int = _field(1000, "steps between validation passes (multiple of --log_every)",
        role=RESUME_SAFE)
    eval_batches: int = _field(8, "batches per validation pass", role=RESUME_SAFE)
    image_every: int = _field(1000,
        "steps between sample/reconstruction grids (multiple of --log_every)", role=RESUME_SAFE)
    checkpoint_every: int = _field(1000,
        "steps between checkpoints (one is also written at the end)", role=RESUME_SAFE)
    keep_checkpoints: int = _field(3, "how many checkpoints to keep", role=RESUME_SAFE)
    export_every: int = _field(0,
        "steps between SavedModel exports to WORKDIR/export (0 = only at the end); a multiple of "
        "--checkpoint_every: only checkpointed, finite states are exported", role=RESUME_SAFE)


@dataclasses.dataclass(frozen=True)
class Offline:
    """Evaluation, attribute vectors, sampling, embedding and export (the offline modes): read only
    by those modes, from their command line, and kept out of a run's record."""

    # The checkpoint these modes and --mode=export read: a prefix (WORKDIR/checkpoints/ckpt-400)
    # or a folder (its newest); "" = the newest in WORKDIR/checkpoints. A missing one is an error.
    checkpoint: str = _field("",
        "export/evaluate/attributes/sample/embed: the checkpoint to read, a prefix "
        "(WORKDIR/checkpoints/ckpt-400) or a folder (its newest); default: the newest")
    classifier_dir: str = _field("",
        "evaluate/attributes: attribute-classifier cache, shareable across runs on the same data "
        "(default WORKDIR/classifier)")
    classifier_steps: int = _field(1000,
        "training steps of the attribute classifier (trained once, then cached)")
    inception_weights: str = _field("",
        "evaluate: local InceptionV3 no-top .h5 weights; adds real FID")
    eval_images: int = _field(1000,
        "evaluate/attributes/embed: images per split (and samples) the metrics and the Projector "
        "use, at most")
    knn_dataset: str = _field("",
        "evaluate: kNN on a prepared TFDS dataset's label (e.g. cifar10) instead of the attributes")
    knn_data_dir: str = _field("",
        "evaluate: TFDS data_dir holding --knn_dataset (default: TFDS's own)")
    edit_attributes: str = _field("",
        "attributes: comma-separated attributes pictured (default: all)")
    sample_seed: int = _field(0,
        "evaluate/attributes/sample: seed of prior samples and pictured faces")
    protocol: str = _field("metrics",
        "evaluate: metrics (default) or table2 (paper's Table 2, conditional models)", PROTOCOLS)
    runs: int = _field(3, "evaluate --protocol=table2: repetitions over seeds for mean and std")
    regressor_dir: str = _field("", "table2: attribute-regressor cache (default WORKDIR/regressor)")
    regressor_steps: int = _field(1000,
        "table2: training steps of the attribute regressor (once, then cached)")
