"""The run configuration: five frozen groups of settings (settings.py) behind one Config.

run.py builds it from flags; library code receives it and never reads flags itself. Every field
name is unique across the groups, so code reads `config.latent_dim` as well as
`config.networks.latent_dim`, and Config(**flat values) builds the groups. The sets of fields that
may change on resume, that an offline mode may override, and that are offline are derived from
the marks on the fields and the offline group (`field_sets`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from vaegan_tf.config_checks import validate
from vaegan_tf.errors import ConfigError
from vaegan_tf.settings import RESUME_SAFE, Data, Networks, Offline, Recipe, Run

# (attribute, group, --help title), in the order --help and config.json list them.
GROUPS = (("networks", Networks, "The model"), ("recipe", Recipe, "Optimisation"),
          ("data", Data, "Data"), ("run", Run, "Speed, devices, logging, checkpoints, exports"),
          ("offline", Offline, "Offline modes (evaluate, attributes, sample, embed, export)"))
OFFLINE_GROUP = "offline"
# Old names -> today's, so runs recorded before a rename still resume (run.py keeps each old
# name as a flag alias, so commands and flag files that use it still work).
RENAMED = {"step": "gradients", "rmsprop_eps": "rmsprop_epsilon_at"}


def fields(groups=GROUPS) -> list[dataclasses.Field]:
    """Every setting of every group, in order (what run.py defines a flag for)."""
    return [f for _, group, _ in groups for f in dataclasses.fields(group)]


def _group_of(groups=GROUPS) -> dict[str, str]:
    owner = {}
    for name, group, _ in groups:
        for f in dataclasses.fields(group):
            assert f.name not in owner, f"{f.name} is in two groups"
            owner[f.name] = name
    return owner


GROUP_OF = _group_of()


@dataclasses.dataclass(frozen=True, init=False)
class Config:
    """Everything that defines a run, in five groups; Config(**values) takes the flat field names."""

    networks: Networks
    recipe: Recipe
    data: Data
    run: Run
    offline: Offline

    def __init__(self, **values: Any):
        unknown = sorted(set(values) - set(GROUP_OF))
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        for name, group, _ in GROUPS:
            object.__setattr__(self, name, group(**{k: v for k, v in values.items()
                                                    if GROUP_OF[k] == name}))
        validate(self)

    def __getattr__(self, name: str) -> Any:  # only reached for names that are not groups
        group = GROUP_OF.get(name)
        if group is None:
            raise AttributeError(f"Config has no field {name!r}")
        return getattr(getattr(self, group), name)

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
    def binary_attributes(self) -> bool:
        """True when the data's attributes are 0/1 labels (all but LFW's real-valued scores)."""
        return self.dataset != "lfw"

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
        return Config(**{**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Every field by its flat name, the offline ones too."""
        return {f.name: getattr(self, f.name) for f in fields()}

    def record(self) -> dict[str, dict[str, Any]]:
        """What a trained run keeps (config.json, a saved model's config): the training groups,
        not the offline one, whose values belong to each offline command."""
        return {name: dataclasses.asdict(getattr(self, name)) for name, _, _ in GROUPS
                if name != OFFLINE_GROUP}

    def to_json(self) -> str:
        return json.dumps(self.record(), indent=2)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Config":
        """A Config from a record (grouped) or from flat names (runs recorded before the groups,
        their offline fields included)."""
        return cls(**flat_values(values))

    @classmethod
    def load(cls, path: str) -> "Config":
        try:
            with open(path) as f:
                values = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"cannot read config {path}: {e}") from None
        return cls.from_dict(values)


def flat_values(values: dict[str, Any]) -> dict[str, Any]:
    """A record's values by flat field name: groups opened, old names renamed."""
    flat = {}
    for key, value in values.items():
        if key in (name for name, _, _ in GROUPS) and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return {RENAMED.get(k, k): v for k, v in flat.items()}


def field_sets(groups=GROUPS) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(offline, resume-safe, overridable) field names, from the groups and the marks on their
    fields: a new field is marked where it is defined, and nowhere else."""
    offline = frozenset(f.name for name, group, _ in groups if name == OFFLINE_GROUP
                        for f in dataclasses.fields(group))
    every = fields(groups)
    return (offline,
            offline | frozenset(f.name for f in every if f.metadata["role"] == RESUME_SAFE),
            frozenset(f.name for f in every if f.metadata["overridable"]))


# OFFLINE_FIELDS: read only by the offline modes; they never shape a run.
# RESUME_SAFE_FIELDS: may differ between a run and its resumption (they change how long or how
# loudly the run goes, or where the same data is, not what the checkpoint's variables mean).
# OVERRIDABLE_FIELDS: recorded fields an offline mode's command line may still override.
OFFLINE_FIELDS, RESUME_SAFE_FIELDS, OVERRIDABLE_FIELDS = field_sets()
