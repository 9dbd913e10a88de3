"""The run configuration: one frozen dataclass, validated on construction.

run.py builds it from flags; library code receives it and never reads flags itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from vaegan_tf.errors import ConfigError

MODELS = ("vaegan", "vae", "vae_disl", "vaegan_dis0", "gan")
DATASETS = ("synthetic", "celeba", "tfds", "lfw")
CROPS = ("original", "center108", "center150")
CACHES = ("auto", "memory", "file", "none")
GAN_FAKES = ("both", "prior", "recon")
DIS_BATCHES = ("joint", "separate")
GAN_LOSSES = ("non_saturating", "saturating")
DIS_PASSES = ("two", "one")
DEC_BATCHES = ("separate", "joint")
DEC_STATISTICS = ("recon", "prior", "both")
INITS = ("deeppy", "glorot")
RMSPROP_EPS = ("after_sqrt", "inside_sqrt")
LR_SCHEDULES = ("gamma", "constant", "polynomial")
TRAIN_SPLITS = ("train+val", "train")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
STEPS = ("fused", "three_tape")
STRATEGIES = ("default", "mirrored", "multi_worker")
PROTOCOLS = ("metrics", "table2")

# Fields that may differ between a run and its resumption: they change how long or how loudly the
# run goes, not what the checkpoint's variables mean.
RESUME_SAFE_FIELDS = frozenset({
    "train_steps", "log_every", "eval_every", "image_every", "checkpoint_every", "keep_checkpoints",
    "eval_batches", "data_dir", "disl_from", "export_every",
    "deterministic", "divergence_patience", "lr_backoff", "max_recoveries",  # fault handling
    "cache", "cache_dir", "skip_corrupt", "tfds_manual_dir",  # where the same images come from
    "step", "jit_compile", "steps_per_execution",  # how the same update is computed
    "strategy", "num_cpu_devices", "sync_batchnorm",  # a checkpoint of N replicas resumes on M
})
# Fields of the offline modes (evaluate, attributes, sample): they never shape a run.
OFFLINE_FIELDS = frozenset({
    "classifier_dir", "classifier_steps", "inception_weights", "eval_images", "knn_dataset",
    "knn_data_dir", "edit_attributes", "sample_seed", "checkpoint",
    "protocol", "runs", "regressor_dir", "regressor_steps",
})
RESUME_SAFE_FIELDS = RESUME_SAFE_FIELDS | OFFLINE_FIELDS


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a run. Defaults are the authors' CelebA recipe unless noted."""

    # --- model ---
    # Defaults follow the authors' code (andersbll/autoencoding_beyond_pixels, celeba_aegan.py with
    # deeppy), which produced the paper's figures; celeba_paper.flags reads the paper literally.
    # Each "authors:" comment names the choice the default takes and the literal alternative.
    model: str = "vaegan"  # one of MODELS: the paper's five variants (Sec. 4)
    latent_dim: int = 128  # size of z (Table 1)
    enc_width: int = 64  # Enc's first conv width; later layers are 2x and 4x this (Table 1: 64)
    dec_width: int = 32  # Dec's last convT width; earlier ones are 4x and 8x this (Table 1: 32)
    dis_width: int = 32  # Dis's first conv width; later ones 4x and 8x this (Table 1: 32)
    fc_width: int = 2048  # Enc's hidden FC units (Table 1: 2048); Dis uses fc_width // 4 = 512
    image_size: int = 64  # square side in pixels; must be a multiple of 8 (three stride-2 stages)
    gamma: float = 1e-6  # weight of L_llike against L_GAN in Dec's loss (authors' final code: 1e-6)
    init: str = "deeppy"  # authors: deeppy's AutoFiller U(±1/√(3·fan_in)); glorot: Keras's default
    # authors: two Dis passes, similarity (Dis up to Dis_l on [x̃, x], never updating Dis) and GAN
    # (Dis on [x, fakes]); one: a single pass on [x, x̃, fakes] serves both (the paper read literally).
    dis_passes: str = "two"
    llike_stop_target: bool = True  # authors: no gradient through the target Dis_l(x) of L_llike
    dec_batch: str = "separate"  # authors: Dec(z) and Dec(z_p) in separate calls (own BN statistics)
    # Which separate Dec calls update the BN moving statistics that inference (samples, exports)
    # uses. authors: recon (their Dec(z_p) ran on a copy with statistics of its own); prior: the
    # codes samples are drawn from, and the GAN's fakes; both: each call. Training itself always
    # normalises with batch statistics, so this changes only what inference sees. A model with
    # one Dec call (vae, gan) updates from it; --dec_batch=joint from the joint call.
    dec_statistics: str = "recon"
    # Fakes the GAN sees. authors (CelebA/LFW runs): only Dec(z_p); both: Eq. 10's Dec(Enc(x)) too.
    gan_fakes: str = "prior"
    # Dis's BN batch statistics within a pass: one call over its sources (authors) or per source.
    dis_batch: str = "joint"
    # Dec's GAN term. authors: saturating log(1 − D(G)), Dec ascending Dis's own loss;
    # non_saturating: −log D(G) (Goodfellow et al. 2014).
    gan_loss: str = "saturating"
    gan_eps: float = 1e-3  # authors: log(D + ε) and log(1 − D + ε); 0: exact cross-entropies
    real_vs_gen_weight: float = 0.5  # authors: Dis's loss weighs real 0.5, all fakes together 0.5
    disl_from: str = ""  # vae_disl only: workdir of an earlier gan/vaegan run whose Dis_l is reused
    equilibrium_gate: bool = True  # authors: skip Dis/Dec updates out of equilibrium (always on)
    equilibrium: float = 0.68  # gate centre for Dis's real/fake cross-entropies (authors' code)
    margin: float = 0.35  # gate half-width (authors' code)
    # Sec 4.2: y is concatenated to the top FC input of Enc and Dis and to z at Dec's input.
    conditional: bool = False
    num_attributes: int = 0  # length of y; filled from the dataset when --conditional (0 = none)

    # --- optimisation ---
    learning_rate: float = 0.025 / 64  # authors: lr_start 0.025 over summed losses of batch 64
    lr_end: float = 1e-5 / 64  # gamma schedule's final rate (authors: lr_stop 1e-5 / 64)
    lr_power: float = 0.75  # gamma schedule's exponent (authors: GammaAnnealer gamma 0.75)
    lr_epoch_steps: int = 250  # gamma schedule: the rate changes once per this many steps (authors)
    rmsprop_rho: float = 0.9  # RMSProp moving-average decay (authors' code)
    rmsprop_epsilon: float = 1e-8  # authors (deeppy): 1e-8; Keras's own default is 1e-7
    rmsprop_eps: str = "after_sqrt"  # authors: lr·g/(√v + ε); inside_sqrt: Keras's lr·g/√(v + ε)
    # authors: GammaAnnealer lr = a − (t/T)^0.75 (a − b), per 250-step epoch; constant (paper);
    # polynomial: linear decay to 0.
    lr_schedule: str = "gamma"
    weight_decay: float = 0.0  # decoupled weight decay; authors' code used 1e-5, the paper none
    batch_size: int = 64  # images per step (paper: 64)
    train_steps: int = 62_500  # total optimizer steps (authors: 250 epochs of 250 batches)
    train_split: str = "train+val"  # authors: train on CelebA's train and validation images
    seed: int = 0  # seeds weights, noise, shuffling and the synthetic data
    deterministic: bool = False  # TF op determinism: a resumed run matches an uninterrupted one
    divergence_patience: int = 20  # non-finite steps in a row before rolling back to a checkpoint
    lr_backoff: float = 0.5  # learning-rate factor applied at each divergence rollback
    max_recoveries: int = 3  # rollbacks allowed before the run stops with an error

    # --- speed and devices ---
    # One of PRECISIONS: Keras mixed-precision policy for the networks. auto: mixed_bfloat16 where
    # the training device has native bfloat16 (devices.py), else float32; chosen where the
    # model is built, so a run resumes on any machine (docs/performance.md: same demo quality).
    precision: str = "auto"
    step: str = "fused"  # one of STEPS: shared-cotangent backward (fused) or one full tape per net
    jit_compile: bool = False  # XLA-compile the train step
    # Train steps per call into the compiled function: Keras's callbacks (and their read of the
    # step's logs) run once per call. A divisor of log_every and checkpoint_every, so logs,
    # validation, grids and checkpoints still fall on their steps (train.py).
    steps_per_execution: int = 1
    strategy: str = "default"  # one of STRATEGIES: one device, all local GPUs, or TF_CONFIG workers
    num_cpu_devices: int = 0  # split the CPU into this many logical devices (testing; 0 = off)
    sync_batchnorm: bool = False  # BN statistics over the global batch instead of each replica's

    # --- data ---
    dataset: str = "celeba"  # one of DATASETS
    data_dir: str = ""  # CelebA root / TFDS data_dir / synthetic output ("" = <workdir>/data)
    crop: str = "original"  # authors' 148x148 crop + blur (original) or DCGAN's 108x108 centre crop
    synthetic_images: int = 4000  # number of images the synthetic dataset draws
    shuffle_buffer: int = 10_000  # examples; only for --dataset=tfds --cache=none, read in sequence
    # (cached data and image files are read in a full per-pass permutation: stream.py)
    augment: bool = False  # light random shift/zoom/rotation and gamma/contrast/hue jitter
    cache: str = "auto"  # uint8 crops cached in memory, as arrays in cache_dir, or not (CACHES)
    cache_dir: str = ""  # folder of --cache=file shards ("" = <workdir>/cache when training)
    skip_corrupt: bool = False  # skip (and count) corrupt images instead of stopping at the first
    tfds_manual_dir: str = ""  # --dataset=tfds: CelebA's 5 files ("" = <data_dir>/downloads/manual)

    # --- bookkeeping ---
    log_every: int = 100  # steps per Keras epoch: scalars go to TensorBoard at each epoch end
    eval_every: int = 1000  # steps between validation passes; a multiple of log_every
    eval_batches: int = 8  # validation batches per validation pass
    image_every: int = 1000  # steps between sample/reconstruction grids; a multiple of log_every
    checkpoint_every: int = 1000  # steps between checkpoints (one is also written at the end)
    keep_checkpoints: int = 3  # checkpoints kept on disk
    export_every: int = 0  # steps between SavedModel exports during training (0 = only at the end);
    # a multiple of checkpoint_every: only checkpointed (finite) states are exported

    # --- evaluation, attribute vectors and sampling (--mode=evaluate/attributes/sample) ---
    # The checkpoint these modes and --mode=export read: a prefix (WORKDIR/checkpoints/ckpt-400)
    # or a folder (its newest); "" = the newest in WORKDIR/checkpoints. A missing one is an error.
    checkpoint: str = ""
    classifier_dir: str = ""  # cache of the attribute classifier ("" = <workdir>/classifier)
    classifier_steps: int = 1000  # training steps of the attribute classifier (once, then cached)
    inception_weights: str = ""  # InceptionV3 .h5 weights (no top) for real FID; "" = skip FID
    eval_images: int = 1000  # images per split (and samples) the offline metrics use, at most
    knn_dataset: str = ""  # kNN on a labelled TFDS dataset (e.g. cifar10); "" = our attributes
    knn_data_dir: str = ""  # TFDS data_dir holding --knn_dataset ("" = TFDS's default)
    edit_attributes: str = ""  # comma-separated attributes for the Fig. 6 grid ("" = all)
    sample_seed: int = 0  # seed of prior samples and of the faces the offline modes picture
    protocol: str = "metrics"  # --mode=evaluate: one of PROTOCOLS (table2: paper's Table 2, conditional)
    runs: int = 3  # table2: repetitions over seeds for mean ± std
    regressor_dir: str = ""  # table2: attribute-regressor cache ("" = <workdir>/regressor)
    regressor_steps: int = 1000  # table2: training steps of the attribute regressor

    def __post_init__(self):
        _validate(self)

    @property
    def uses_encoder(self) -> bool:
        return self.model != "gan"

    @property
    def trains_discriminator(self) -> bool:
        return self.model in ("vaegan", "vaegan_dis0", "gan")

    @property
    def uses_discriminator(self) -> bool:
        return self.model != "vae"

    @property
    def compute_precision(self) -> str:
        """The policy the networks are built with: `precision`, with auto resolved here."""
        if self.precision != "auto":
            return self.precision
        from vaegan_tf.devices import bf16_is_native  # late: it starts TensorFlow
        return "mixed_bfloat16" if bf16_is_native() else "float32"

    @property
    def similarity(self) -> str:
        """Where reconstruction error is measured: 'disl' (Dis_l features) or 'pixel'."""
        return "disl" if self.model in ("vaegan", "vae_disl") else "pixel"

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def load(cls, path: str) -> "Config":
        try:
            with open(path) as f:
                values = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"cannot read config {path}: {e}") from None
        return cls.from_dict(values)


def _fail(field: str, message: str) -> None:
    raise ConfigError(f"--{field}: {message}")


def _validate(c: Config) -> None:
    for f in dataclasses.fields(c):
        value = getattr(c, f.name)
        expected = {"int": int, "float": (int, float), "str": str, "bool": bool}[f.type]
        # bool is an int subclass; an int field given True is almost surely a mistake.
        if not isinstance(value, expected) or (f.type != "bool" and isinstance(value, bool)):
            _fail(f.name, f"expected {f.type}, got {value!r}")
    for name, choices in (("model", MODELS), ("dataset", DATASETS), ("crop", CROPS),
                          ("gan_fakes", GAN_FAKES), ("gan_loss", GAN_LOSSES), ("dis_batch", DIS_BATCHES),
                          ("lr_schedule", LR_SCHEDULES), ("cache", CACHES),
                          ("dis_passes", DIS_PASSES), ("dec_batch", DEC_BATCHES),
                          ("dec_statistics", DEC_STATISTICS), ("init", INITS),
                          ("rmsprop_eps", RMSPROP_EPS), ("train_split", TRAIN_SPLITS),
                          ("precision", PRECISIONS), ("step", STEPS), ("strategy", STRATEGIES),
                          ("protocol", PROTOCOLS)):
        if getattr(c, name) not in choices:
            _fail(name, f"must be one of {', '.join(choices)}; got {getattr(c, name)!r}")
    for name in ("latent_dim", "enc_width", "dec_width", "dis_width", "fc_width", "batch_size",
                 "train_steps", "log_every", "eval_every", "eval_batches", "image_every",
                 "checkpoint_every", "keep_checkpoints", "shuffle_buffer", "divergence_patience",
                 "lr_epoch_steps", "lr_power"):
        if getattr(c, name) <= 0:
            _fail(name, f"must be > 0; got {getattr(c, name)}")
    if c.image_size < 16 or c.image_size % 8:
        _fail("image_size", f"must be a multiple of 8 and at least 16; got {c.image_size}")
    if c.fc_width < 4:
        _fail("fc_width", f"must be at least 4 (Dis uses fc_width // 4); got {c.fc_width}")
    if not c.learning_rate > 0:
        _fail("learning_rate", f"must be > 0; got {c.learning_rate}")
    if not 0 <= c.lr_end <= c.learning_rate:
        _fail("lr_end", f"must be in [0, --learning_rate={c.learning_rate}]; got {c.lr_end}")
    if not 0 <= c.gan_eps < 1:
        _fail("gan_eps", f"must be in [0, 1); got {c.gan_eps}")
    if not 0 < c.real_vs_gen_weight < 1:
        _fail("real_vs_gen_weight", f"must be in (0, 1); got {c.real_vs_gen_weight}")
    for name in ("gamma", "weight_decay", "rmsprop_epsilon"):
        if not getattr(c, name) >= 0:
            _fail(name, f"must be >= 0; got {getattr(c, name)}")
    if not 0 < c.rmsprop_rho < 1:
        _fail("rmsprop_rho", f"must be in (0, 1); got {c.rmsprop_rho}")
    if not 0 < c.lr_backoff < 1:
        _fail("lr_backoff", f"must be in (0, 1); got {c.lr_backoff}")
    if c.max_recoveries < 0:
        _fail("max_recoveries", f"must be >= 0; got {c.max_recoveries}")
    if not c.equilibrium > 0:
        _fail("equilibrium", f"must be > 0; got {c.equilibrium}")
    if c.export_every < 0:
        _fail("export_every", f"must be >= 0 (0 = export only at the end); got {c.export_every}")
    if c.export_every % c.checkpoint_every:
        # Only checkpointed states are exported (export/saved_model.py: ExportCallback).
        _fail("export_every", f"must be a multiple of --checkpoint_every={c.checkpoint_every}, "
              f"as only checkpointed states are exported; got {c.export_every}")
    if not c.margin >= 0:
        _fail("margin", f"must be >= 0; got {c.margin}")
    if c.synthetic_images < 20:
        _fail("synthetic_images", f"must be at least 20 (train/val/test splits); got {c.synthetic_images}")
    if c.steps_per_execution < 1:
        _fail("steps_per_execution", f"must be >= 1; got {c.steps_per_execution}")
    for name in ("log_every", "checkpoint_every"):
        if getattr(c, name) % c.steps_per_execution:
            _fail("steps_per_execution", f"must divide --{name}={getattr(c, name)}; "
                  f"got {c.steps_per_execution}")
    for name in ("eval_every", "image_every"):
        if getattr(c, name) % c.log_every:
            _fail(name, f"must be a multiple of --log_every={c.log_every}; got {getattr(c, name)}")
    if c.model == "vae_disl" and not c.disl_from:
        _fail("disl_from", "--model=vae_disl needs the workdir of an earlier gan or vaegan run")
    if c.model != "vae_disl" and c.disl_from:
        _fail("disl_from", f"is only used with --model=vae_disl, not --model={c.model}")
    for name in ("num_attributes", "num_cpu_devices"):
        if getattr(c, name) < 0:
            _fail(name, f"must be >= 0; got {getattr(c, name)}")
    if c.dataset == "lfw" and c.crop == "original":
        _fail("crop", "--crop=original is CelebA's box of the aligned 218x178 image; for LFW's "
              "250x250 images use --crop=center150 (the authors' LFW crop) or center108")
    if c.conditional and c.model == "vae_disl":
        _fail("conditional", "is available for vae, gan, vaegan and vaegan_dis0, not vae_disl")
    for name in ("classifier_steps", "eval_images", "runs", "regressor_steps"):
        if getattr(c, name) <= 0:
            _fail(name, f"must be > 0; got {getattr(c, name)}")
    if c.inception_weights and not os.path.isfile(c.inception_weights):
        _fail("inception_weights", f"no such file: {c.inception_weights} (Keras InceptionV3 "
              "weights cannot be downloaded here; give a local .h5 file)")
    if c.edit_attributes and not all(n.strip() for n in c.edit_attributes.split(",")):
        _fail("edit_attributes", f"expected comma-separated names; got {c.edit_attributes!r}")
    if c.disl_from and not os.path.isdir(c.disl_from):
        _fail("disl_from", f"no such directory: {c.disl_from}")
