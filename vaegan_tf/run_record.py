"""A run's record, WORKDIR/config.json: written by training, checked when it resumes, read by
every other mode, which may override some of its fields with flags (config.py marks which)."""

from __future__ import annotations

import json
import os
from typing import Iterable

from absl import logging

from vaegan_tf.config import (OFFLINE_FIELDS, OVERRIDABLE_FIELDS, RESUME_SAFE_FIELDS, Config,
                              flat_values)
from vaegan_tf.errors import CheckpointError
from vaegan_tf.files import write_text
from vaegan_tf.workdir import Workdir


def with_defaults(config: Config, run: Workdir) -> Config:
    """Fills the fields whose defaults are folders of the run: the synthetic faces and the file
    cache go under it."""
    if not config.data_dir and config.dataset == "synthetic":
        config = config.replace(data_dir=run.data)
    if not config.cache_dir and config.cache in ("auto", "file"):
        config = config.replace(cache_dir=run.cache)
    return config


def recorded(run: Workdir) -> dict | None:
    """The values in config.json by flat field name; None when the run has none yet."""
    if not os.path.exists(run.config_file):
        return None
    try:
        with open(run.config_file) as f:
            return flat_values(json.load(f))
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read {run.config_file} ({e}); move it away to start "
                              "anew") from None


def write(run: Workdir, config: Config) -> None:
    write_text(run.config_file, config.to_json() + "\n")


def check_resumable(run: Workdir, config: Config) -> None:
    """Refuses to resume a run whose recorded config differs in a field that shapes the model."""
    saved = recorded(run)
    if saved is None:
        return
    current = config.to_dict()
    for field in sorted(current):
        if field not in RESUME_SAFE_FIELDS and saved.get(field) != current[field]:
            raise CheckpointError(
                f"--{field}={current[field]!r} differs from {saved.get(field)!r} recorded in "
                f"{run.config_file}; use a new --workdir or the same value to resume")


def require(run: Workdir, flag: str = "--workdir") -> dict:
    """config.json's values, or a CheckpointError saying this is not a trained run."""
    if not os.path.isdir(run.path):
        raise CheckpointError(f"{flag}={run.path} does not exist")
    values = recorded(run)
    if values is None:
        raise CheckpointError(f"{run.path} holds no trained run ({run.config_file} not "
                              "found); train one there first with --mode=train")
    return values


def load(run: Workdir) -> Config:
    """The run's recorded Config."""
    return Config.from_dict(require(run))


def offline_config(run: Workdir, flags_config: Config, explicit: Iterable[str] = ()) -> Config:
    """The recorded config, with OFFLINE_FIELDS from `flags_config` and the OVERRIDABLE_FIELDS
    named in `explicit` (the flags the user actually gave); other flags are ignored, loudly."""
    values = require(run)
    explicit = set(explicit)
    # Offline fields replace the recorded ones before validation: a weights file given to an
    # earlier command may be gone now without making the run unreadable.
    values.update({f: getattr(flags_config, f) for f in OFFLINE_FIELDS})
    values.update({f: getattr(flags_config, f) for f in OVERRIDABLE_FIELDS if f in explicit})
    ignored = sorted(f for f in explicit - set(OFFLINE_FIELDS) - set(OVERRIDABLE_FIELDS)
                     if f in values and getattr(flags_config, f) != values[f])
    if ignored:
        logging.warning("Using %s for %s, not the flags given", run.config_file,
                        ", ".join(ignored))
    return Config.from_dict(values)
