"""The checks a Config's values pass on construction (values only: folders and files are
checked where they are used, so a recorded config stays readable after its files move)."""

from __future__ import annotations

import dataclasses

from vaegan_tf.errors import ConfigError

# --crop's named crops (preprocess.crop_resize); a box is written BOX + "TOP,LEFT,HEIGHT,WIDTH".
CROPS = ("original", "center108", "center150", "square")
BOX = "box:"


def parse_box(crop: str) -> tuple[int, int, int, int]:
    """(top, left, height, width) in pixels of a --crop=box:TOP,LEFT,HEIGHT,WIDTH, or ValueError."""
    if not crop.startswith(BOX):
        raise ValueError(f"got {crop!r}")
    try:
        top, left, height, width = (int(v) for v in crop[len(BOX):].split(","))
    except ValueError:
        raise ValueError(f"a box is four integers, box:TOP,LEFT,HEIGHT,WIDTH; got {crop!r}") from None
    if top < 0 or left < 0 or height < 1 or width < 1:
        raise ValueError(f"a box's TOP and LEFT must be >= 0, HEIGHT and WIDTH >= 1; got {crop!r}")
    return top, left, height, width


def _fail(field: str, message: str) -> None:
    raise ConfigError(f"--{field}: {message}")


def validate(c) -> None:
    """Raises a ConfigError naming the first field of Config `c` whose value is invalid."""
    _check_types_and_choices(c)
    _check_ranges(c)
    _check_combinations(c)


def _settings(c) -> list[dataclasses.Field]:
    """The fields of every group of Config `c` (its own fields are the groups)."""
    return [f for group in dataclasses.fields(c) for f in dataclasses.fields(getattr(c, group.name))]


def _check_types_and_choices(c) -> None:
    for f in _settings(c):
        value = getattr(c, f.name)
        expected = {"int": int, "float": (int, float), "str": str, "bool": bool}[f.type]
        # bool is an int subclass; an int field given True is almost surely a mistake.
        if not isinstance(value, expected) or (f.type != "bool" and isinstance(value, bool)):
            _fail(f.name, f"expected {f.type}, got {value!r}")
    for f in _settings(c):
        choices = f.metadata["choices"]
        if choices and getattr(c, f.name) not in choices:
            _fail(f.name, f"must be one of {', '.join(choices)}; got {getattr(c, f.name)!r}")


def _check_ranges(c) -> None:
    for name in ("latent_dim", "enc_width", "dec_width", "dis_width", "fc_width", "batch_size",
                 "train_steps", "log_every", "eval_every", "eval_batches", "image_every",
                 "checkpoint_every", "keep_checkpoints", "shuffle_buffer", "divergence_patience",
                 "lr_epoch_steps", "lr_power", "lost_worker_timeout"):
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


def _check_combinations(c) -> None:
    if c.export_every % c.checkpoint_every:
        # Only checkpointed states are exported (export/saved_model.py: ExportCallback).
        _fail("export_every", f"must be a multiple of --checkpoint_every={c.checkpoint_every}, "
              f"as only checkpointed states are exported; got {c.export_every}")
    if not c.margin >= 0:
        _fail("margin", f"must be >= 0; got {c.margin}")
    if c.synthetic_images < 20:
        _fail("synthetic_images",
              f"must be at least 20 (train/val/test splits); got {c.synthetic_images}")
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
    _check_data(c)
    if c.dataset == "lfw" and c.crop == "original":
        _fail("crop", "--crop=original is CelebA's box of the aligned 218x178 image; for LFW's "
              "250x250 images use --crop=center150 (the authors' LFW crop) or center108")
    if c.conditional and c.model == "vae_disl":
        _fail("conditional", "is available for vae, gan, vaegan and vaegan_dis0, not vae_disl")
    for name in ("classifier_steps", "eval_images", "runs", "regressor_steps"):
        if getattr(c, name) <= 0:
            _fail(name, f"must be > 0; got {getattr(c, name)}")
    if c.edit_attributes and not all(n.strip() for n in c.edit_attributes.split(",")):
        _fail("edit_attributes", f"expected comma-separated names; got {c.edit_attributes!r}")


def _check_data(c) -> None:
    if c.crop not in CROPS:
        try:
            parse_box(c.crop)
        except ValueError as e:
            _fail("crop", f"must be one of {', '.join(CROPS)}, auto or box:TOP,LEFT,HEIGHT,WIDTH; "
                  f"{e}")
    for name in ("val_fraction", "test_fraction"):
        if not 0 < getattr(c, name) < 1:
            _fail(name, f"must be in (0, 1): training validates on the validation split and "
                  f"--mode=evaluate measures on the test split; got {getattr(c, name)}")
    if c.val_fraction + c.test_fraction >= 1:
        _fail("test_fraction", f"--val_fraction + --test_fraction must be < 1 to leave pictures "
              f"to train on; got {c.val_fraction} + {c.test_fraction}")
    if c.dataset == "folder" and not c.data_dir:
        _fail("data_dir", "--dataset=folder reads every picture under --data_dir=DIR: name the "
              "folder of your pictures")
    if c.attributes_csv and c.dataset != "folder":
        _fail("attributes_csv", f"labels the pictures of --dataset=folder; --dataset={c.dataset} "
              "reads its own attribute files")
