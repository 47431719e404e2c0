"""Presets validated by pydantic: bad files are one sentence naming the file and the field."""

from __future__ import annotations

import math

import pytest

from sensex.core.errors import ConfigError
from sensex.models.config import Config, PromotionConfig, check_threshold, config_from_dict, load_config


@pytest.mark.parametrize("preset", ["quick", "full", "walkforward"])
def test_shipped_presets_load(preset):
    config = load_config(preset)
    assert config.name == preset
    assert config.train.epochs > 0 and 0 <= config.promotion.min_auc <= 1


def test_preset_values_and_the_flat_and_dict_views():
    config = load_config("quick")
    assert (config.model.hidden, config.train.epochs, config.train.max_train_windows) == (12, 6, 1000)
    assert config.features.window == 60  # a default the preset does not set
    flat = config.flat()
    assert flat["name"] == "quick" and flat["model.hidden"] == 12 and flat["promotion.min_auc"] == 0.5
    assert set(flat) == {"name"} | {f"{s}.{k}" for s, v in config.to_dict().items() if s != "name" for k in v}
    assert config.to_dict()["train"]["patience"] == 2


def test_with_segments_replaces_only_given_dates():
    config = load_config("quick")
    assert config.with_segments(train_end=None) is config
    changed = config.with_segments(train_end="2018-12-31", valid_end="2019-12-31", test_end=None)
    assert (changed.train.train_end, changed.train.valid_end, changed.train.test_end) == ("2018-12-31", "2019-12-31", None)
    assert changed.train.epochs == config.train.epochs and config.train.train_end is None


def test_with_segments_refuses_a_date_that_is_not_one():
    with pytest.raises(ConfigError, match=r"^--valid-end 'last year' is not a date in YYYY-MM-DD form"):
        load_config("quick").with_segments(valid_end="last year")


def test_configs_are_frozen():
    config = load_config("quick")
    with pytest.raises(ValueError):
        config.train.epochs = 3


def test_a_file_with_name_dates_and_numbers_written_as_text(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("train: {train_end: 2018-12-31, valid_end: '2019-12-31', learning_rate: 1e-3}\n"
                    "promotion: {min_auc: '0.55'}\nmodel:\n")
    config = load_config(path)
    assert config.name == "mine"
    assert config.train.train_end == "2018-12-31" and config.train.valid_end == "2019-12-31"
    assert config.train.learning_rate == 0.001  # YAML 1.1 reads 1e-3 as text
    assert config.promotion.min_auc == 0.55 and config.model.hidden == 16
    assert load_config(_write(tmp_path, "named.yaml", "name: other\n")).name == "other"


def _write(directory, name, text):
    path = directory / name
    path.write_text(text)
    return path


BAD_FILES = [
    ("tag", "!!python/object/apply:os.system ['echo owned']\n", ["cannot be read at line 1", "python/object"]),
    ("tag_inside", "train: !!python/object:collections.OrderedDict {}\n", ["cannot be read", "python/object"]),
    ("top_list", "- train\n- model\n", ["must be a mapping of sections", "not list"]),
    ("top_scalar", "quick\n", ["must be a mapping of sections", "not str"]),
    ("text_number", "train: {epochs: ten}\n", ["train.epochs = 'ten'", "integer"]),
    ("nan", "promotion: {min_auc: .nan}\n", ["promotion.min_auc = nan", "finite"]),
    ("inf", "train: {learning_rate: .inf}\n", ["train.learning_rate = inf", "finite"]),
    ("above_one", "promotion: {min_accuracy: 1.5}\n", ["promotion.min_accuracy = 1.5", "less than or equal to 1"]),
    ("negative", "train: {batch_size: -1}\n", ["train.batch_size = -1", "greater than 0"]),
    ("zero_epochs", "train: {epochs: 0}\n", ["train.epochs = 0", "greater than 0"]),
    ("zero_window", "features: {window: 0}\n", ["features.window = 0", "greater than 0"]),
    ("dropout_one", "model: {dropout: 1.0}\n", ["model.dropout = 1.0", "less than 1"]),
    ("fraction", "model: {hidden: 5.5}\n", ["model.hidden = 5.5", "fractional"]),
    ("even_kernel", "model: {kernel: 4}\n", ["model.kernel = 4", "must be odd"]),
    ("boolean", "train: {epochs: yes}\n", ["train.epochs = True", "yes/no"]),
    ("null_value", "train: {epochs: }\n", ["train.epochs = None"]),
    ("unknown_key", "train: {epochz: 3}\n", ["unknown key train.epochz", "epochs"]),
    ("unknown_section", "modle: {hidden: 3}\n", ["unknown key modle", "model"]),
    ("section_list", "train: [1, 2]\n", ["train must be a mapping", "not list"]),
    ("bad_date", "train: {train_end: yesterday}\n", ["train.train_end = 'yesterday'", "not a date in YYYY-MM-DD form"]),
    ("empty", "", ["is empty"]),
    ("comments_only", "# nothing yet\n", ["is empty"]),
    ("syntax", "train: {epochs: 3\n", ["cannot be read at line 2"]),
]


@pytest.mark.parametrize("name, text, words", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_preset_files_are_one_sentence_naming_file_and_field(tmp_path, name, text, words):
    path = _write(tmp_path, f"{name}.yaml", text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"Config file {path}")
    assert "\n" not in message and message.endswith(".")
    for word in words:
        assert word in message


def test_a_yaml_tag_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = _write(tmp_path, "evil.yaml", f"!!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError):
        load_config(path)
    assert not marker.exists()


def test_missing_file_and_unknown_preset(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="Unknown preset 'nope'"):
        load_config("nope")


def test_config_from_dict_validates_like_a_file():
    assert config_from_dict({"model": {"hidden": 4}}, "tiny").model.hidden == 4
    with pytest.raises(ConfigError, match=r"^config: promotion.min_auc = nan"):
        config_from_dict({"promotion": {"min_auc": math.nan}}, "tiny")
    assert Config().promotion == PromotionConfig()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1.5, -0.01])
def test_a_threshold_outside_zero_one_is_refused(value):
    with pytest.raises(ConfigError, match=r"^--min-accuracy .* is not a threshold: give a number between 0 and 1"):
        check_threshold(value)


@pytest.mark.parametrize("value, expected", [(None, None), (0, 0.0), (0.55, 0.55), (1, 1.0)])
def test_a_threshold_inside_zero_one_passes(value, expected):
    assert check_threshold(value) == expected
