import dataclasses
import json

import pytest

from vaegan_tf import config as config_lib
from vaegan_tf import settings
from vaegan_tf.config import Config
from vaegan_tf.errors import ConfigError


def test_defaults_are_the_papers_architecture_and_the_authors_recipe():
    c = Config()
    assert (c.model, c.latent_dim, c.batch_size) == ("vaegan", 128, 64)
    assert (c.enc_width, c.dec_width, c.dis_width, c.fc_width, c.image_size) == (64, 32, 32, 2048, 64)
    # The authors' code (celeba_aegan.py + deeppy), not the paper read literally (PAPER_LITERAL).
    assert c.learning_rate == pytest.approx(0.025 / 64) and c.lr_end == pytest.approx(1e-5 / 64)
    assert (c.lr_schedule, c.lr_power, c.lr_epoch_steps, c.train_steps) == ("gamma", 0.75, 250, 62_500)
    assert (c.rmsprop_epsilon_at, c.rmsprop_epsilon, c.rmsprop_rho) == ("after_sqrt", 1e-8, 0.9)
    assert (c.init, c.dis_passes, c.llike_stop_target, c.dec_batch, c.dis_batch) == (
        "deeppy", "two", True, "separate", "joint")
    assert (c.gan_fakes, c.gan_loss, c.gan_eps, c.real_vs_gen_weight) == (
        "prior", "saturating", 1e-3, 0.5)
    assert (c.equilibrium_gate, c.equilibrium, c.margin) == (True, 0.68, 0.35)
    assert (c.gamma, c.train_split) == (1e-6, "train+val")


def test_paper_literal_overrides_are_valid():
    from conftest import PAPER_LITERAL
    c = Config(**PAPER_LITERAL)
    assert c.gan_fakes == "both" and not c.equilibrium_gate and c.learning_rate == 3e-4


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().latent_dim = 3


@pytest.mark.parametrize("field,value", [
    ("latent_dim", 0), ("train_steps", -5), ("batch_size", 0), ("model", "wgan"),
    ("dataset", "mnist"), ("crop", "circle"), ("crop", "box:1,2,3"), ("crop", "box:0,0,-4,4"), ("gan_fakes", "all"), ("gan_loss", "hinge"),
    ("image_size", 60), ("image_size", 8), ("learning_rate", 0.0), ("gamma", -1.0),
    ("gamma", float("nan")), ("rmsprop_rho", 1.0), ("eval_every", 150), ("image_every", 7),
    ("synthetic_images", 5), ("latent_dim", 2.5), ("batch_size", True), ("margin", -0.1),
    ("disl_from", "/somewhere"), ("dis_passes", "three"), ("dec_batch", "shared"),
    ("init", "he"), ("rmsprop_epsilon_at", "outside"), ("lr_schedule", "cosine"), ("train_split", "test"),
    ("gan_eps", 1.0), ("gan_eps", -1e-3), ("real_vs_gen_weight", 0.0), ("real_vs_gen_weight", 1.0),
    ("lr_end", 1.0), ("lr_end", -1e-6), ("lr_power", 0.0), ("lr_epoch_steps", 0),
    ("rmsprop_epsilon", -1e-8), ("val_fraction", 0.0), ("test_fraction", 1.0),
    ("attributes_csv", "/a.csv"),
])
def test_invalid_values_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"--{field}"):
        Config(**{field: value})


def test_a_folder_dataset_needs_its_folder():
    with pytest.raises(ConfigError, match="--data_dir: --dataset=folder reads every picture"):
        Config(dataset="folder")
    assert Config(dataset="folder", data_dir="pictures").crop == "square"  # --crop=auto


def test_vae_disl_needs_a_workdir_named_but_not_present(tmp_path):
    with pytest.raises(ConfigError, match="--disl_from"):
        Config(model="vae_disl")
    # A value only: the folder is checked where it is read (training), so a recorded vae_disl
    # config still loads after that folder moved.
    assert Config(model="vae_disl", disl_from=str(tmp_path / "moved")).similarity == "disl"


def test_model_properties():
    flags = {m: (Config(model=m, disl_from="/" if m == "vae_disl" else "").uses_encoder,
                 Config(model=m, disl_from="/" if m == "vae_disl" else "").trains_discriminator)
             for m in ("vaegan", "vae", "vae_disl", "vaegan_dis0", "gan")}
    assert flags == {"vaegan": (True, True), "vae": (True, False), "vae_disl": (True, False),
                     "vaegan_dis0": (True, True), "gan": (False, True)}
    assert Config(model="vaegan_dis0").similarity == "pixel"


def test_json_round_trip(tmp_path):
    c = Config(latent_dim=7, model="vae", gamma=0.5)
    path = tmp_path / "config.json"
    path.write_text(c.to_json())
    assert Config.load(str(path)) == c
    assert json.loads(c.to_json())["networks"]["latent_dim"] == 7


def test_unknown_field_and_bad_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown config field"):
        Config.from_dict({"latent": 3})
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read config"):
        Config.load(str(bad))


def test_every_field_documents_itself_and_its_flag_says_the_same():
    from absl import flags

    import run  # noqa: F401  (defines the flags from the fields)
    for f in config_lib.fields():
        assert len(f.metadata["help"]) > 10, f.name
        flag = flags.FLAGS[f.name]
        assert flag.help.endswith(f.metadata["help"]), f.name  # an enum's help starts <a|b>:
        if f.metadata["choices"]:
            assert tuple(flag.parser.enum_values) == f.metadata["choices"], f.name
            with pytest.raises(ConfigError, match=f"--{f.name}: must be one of"):
                Config(**{f.name: "no_such_choice"})


# The sets as they were kept by hand before the marks moved onto the fields.
HAND_KEPT_RESUME_SAFE = {
    "train_steps", "log_every", "eval_every", "image_every", "checkpoint_every", "keep_checkpoints",
    "eval_batches", "data_dir", "disl_from", "export_every", "deterministic", "divergence_patience",
    "lr_backoff", "max_recoveries", "cache", "cache_dir", "skip_corrupt", "tfds_manual_dir",
    "attributes_csv", "gradients", "jit_compile", "steps_per_execution", "strategy", "num_cpu_devices",
    "sync_batchnorm", "lost_worker_timeout"}
HAND_KEPT_OFFLINE = {
    "classifier_dir", "classifier_steps", "inception_weights", "eval_images", "knn_dataset",
    "knn_data_dir", "edit_attributes", "sample_seed", "checkpoint", "protocol", "runs",
    "regressor_dir", "regressor_steps"}


def test_field_sets_are_derived_from_the_marks_and_match_the_old_hand_kept_sets():
    assert config_lib.OFFLINE_FIELDS == HAND_KEPT_OFFLINE
    assert config_lib.RESUME_SAFE_FIELDS == HAND_KEPT_RESUME_SAFE | HAND_KEPT_OFFLINE
    assert config_lib.OVERRIDABLE_FIELDS == {"data_dir", "batch_size"}
    offline = {f.name for f in dataclasses.fields(config_lib.Offline)}
    marks = {f.name: f.metadata["role"] for f in config_lib.fields() if f.name not in offline}
    assert {n for n, r in marks.items() if r == settings.SHAPES} == (
        set(marks) - config_lib.RESUME_SAFE_FIELDS)


def test_a_new_field_is_marked_in_one_place():
    def wider(group, *new):
        return dataclasses.make_dataclass(group.__name__, list(new), bases=(group,), frozen=True)

    groups = [(name, group, title) for name, group, title in config_lib.GROUPS]
    groups[1] = ("recipe", wider(config_lib.Recipe, (
        "new_safe", int, settings._field(0, "a resume-safe one", role=settings.RESUME_SAFE,
                                           overridable=True)), (
        "new_shape", int, settings._field(0, "shapes the model"))), "Optimisation")
    groups[4] = ("offline", wider(config_lib.Offline, (
        "new_offline", int, settings._field(0, "an offline setting"))), "Offline")
    offline, safe, overridable = config_lib.field_sets(groups)
    assert offline - config_lib.OFFLINE_FIELDS == {"new_offline"}
    assert safe - config_lib.RESUME_SAFE_FIELDS == {"new_offline", "new_safe"}
    assert overridable - config_lib.OVERRIDABLE_FIELDS == {"new_safe"}
    assert {f.name for f in config_lib.fields(groups)} - {f.name for f in config_lib.fields()} == {
        "new_safe", "new_shape", "new_offline"}


def test_no_group_holds_more_than_25_settings_and_no_name_is_in_two():
    sizes = {name: len(dataclasses.fields(group)) for name, group, _ in config_lib.GROUPS}
    assert max(sizes.values()) <= 25, sizes
    names = [f.name for f in config_lib.fields()]
    assert len(names) == len(set(names)) == sum(sizes.values())
    assert not set(names) & {name for name, _, _ in config_lib.GROUPS}  # flat names stay flat
    twice = dataclasses.make_dataclass("Twice", [("latent_dim", int, settings._field(1, "x"))],
                                       frozen=True)
    with pytest.raises(AssertionError, match="latent_dim is in two groups"):
        config_lib._group_of((*config_lib.GROUPS, ("twice", twice, "Twice")))


def test_flat_names_read_and_build_the_groups():
    c = Config(latent_dim=7, learning_rate=1e-3, dataset="lfw", log_every=5, sample_seed=3)
    assert (c.networks.latent_dim, c.recipe.learning_rate, c.data.crop, c.run.log_every,
            c.offline.sample_seed) == (7, 1e-3, "center150", 5, 3)
    assert (c.latent_dim, c.crop) == (7, "center150")
    assert c.replace(latent_dim=9).networks.latent_dim == 9 and c.latent_dim == 7
    with pytest.raises(AttributeError, match="no field 'latnt_dim'"):
        c.latnt_dim
    with pytest.raises(ConfigError, match="unknown config field"):
        c.replace(latnt_dim=9)


def test_the_record_keeps_the_training_groups_and_not_the_offline_one(tmp_path):
    c = Config(latent_dim=7, sample_seed=3, checkpoint="ckpt-4")
    record = c.record()
    assert list(record) == ["networks", "recipe", "data", "run"]
    recorded = {k for group in record.values() for k in group}
    assert recorded == set(c.to_dict()) - config_lib.OFFLINE_FIELDS
    assert Config.from_dict(record) == c.replace(sample_seed=0, checkpoint="")


def test_a_flat_record_from_before_the_groups_still_loads(tmp_path):
    # What config.json held before: every field at the top level, the offline ones included.
    old = Config(latent_dim=7, sample_seed=3).to_dict()
    assert Config.from_dict(old) == Config(latent_dim=7, sample_seed=3)
    for name, value in {"latent_dim": 7, "sample_seed": 3}.items():
        assert old[name] == value


def test_a_record_with_the_old_names_loads_under_the_new_ones():
    old = {k: v for k, v in Config().to_dict().items() if k not in ("gradients", "rmsprop_epsilon_at")}
    old.update(step="three_tape", rmsprop_eps="inside_sqrt")
    assert Config.from_dict(old) == Config(gradients="three_tape", rmsprop_epsilon_at="inside_sqrt")
