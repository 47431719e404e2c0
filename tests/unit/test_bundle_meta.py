"""`model.json` is a typed, versioned contract: written and read in one place."""

import json

import pytest

from sensex.core.errors import CorruptModelError
from sensex.models.bundle import SCHEMA_VERSION, BundleMeta, NetworkConfig, load_bundle, write_bundle_json
from sensex.models.calibrate import Calibration


def _meta(**changes) -> BundleMeta:
    values = dict(
        kind="convlstm", network=NetworkConfig(n_channels=5, n_stocks=3, window=60), window=60, warmup=250,
        symbols=["A", "B", "C"], index_symbol="SENSEX", stock_features=["f1", "f2"], market_features=["m1", "m2"],
        calibration=Calibration("platt", 0.5, 0.1, "2020-01-01", "2020-12-31"),
        segments={"train": ["2019-01-01", "2019-12-31"], "valid": ["2020-01-01", "2020-12-31"],
                  "test": ["2021-01-01", "2021-12-31"]},
        data={"source": "synthetic", "synthetic": True}, config={"name": "tiny"}, onnx_sha256="ab" * 32,
        test_metrics={"auc": 0.51}, test_baselines={"always_up": {"auc": 0.5}},
    )
    values.update(changes)
    return BundleMeta(**values)


def test_round_trip_keeps_every_field_and_type():
    meta = _meta()
    back = BundleMeta.from_json(meta.to_json())
    assert back == meta
    assert isinstance(back.network, NetworkConfig) and isinstance(back.calibration, Calibration)
    assert back.schema_version == SCHEMA_VERSION


def test_a_version_1_file_without_the_new_fields_still_reads():
    raw = json.loads(_meta().to_json())
    for key in ("schema_version", "onnx_sha256", "test_baselines", "feature_registry"):
        raw.pop(key)
    back = BundleMeta.from_json(json.dumps(raw))
    assert back.schema_version == 1 and back.onnx_sha256 == "" and back.test_baselines == {}


def test_a_newer_schema_is_refused_with_a_sentence(tmp_path):
    from sensex.features.windows import Scaler

    scaler = Scaler("2019-01-01", "2019-12-31", 5.0, [0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0], ["f1", "f2"], ["m1", "m2"])
    write_bundle_json(tmp_path, scaler, _meta(schema_version=SCHEMA_VERSION + 1))
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(CorruptModelError, match="schema version"):
        load_bundle(tmp_path)


def test_a_checksum_mismatch_is_corrupt(tmp_path):
    from sensex.features.windows import Scaler

    scaler = Scaler("2019-01-01", "2019-12-31", 5.0, [0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0], ["f1", "f2"], ["m1", "m2"])
    write_bundle_json(tmp_path, scaler, _meta())
    (tmp_path / "model.onnx").write_bytes(b"not the trained graph")
    with pytest.raises(CorruptModelError, match="checksum"):
        load_bundle(tmp_path)


def test_a_version_2_file_reads_with_no_baselines_ensemble_or_uncertainty():
    raw = json.loads(_meta().to_json())
    for key in ("baselines", "ensemble", "uncertainty"):
        raw.pop(key)
    raw["schema_version"] = 2
    back = BundleMeta.from_json(json.dumps(raw))
    assert back.schema_version == 2 and back.baselines == {} and back.ensemble == {} and back.uncertainty == {}


def test_the_range_part_round_trips_and_a_version_4_file_reads_without_it():
    record = {"forecasters": {"model": {"kind": "linear", "coef": [0.1]}}, "serving": {"band_z": 0.5},
              "intervals": {"model": {"0.8": [-2.0, 1.0]}}}
    meta = _meta(range=record, test_range={"metrics": {"qlike": 0.3}})
    back = BundleMeta.from_json(meta.to_json())
    assert back.range == record and back.test_range == {"metrics": {"qlike": 0.3}} and SCHEMA_VERSION >= 5
    raw = json.loads(meta.to_json())
    for key in ("range", "test_range"):
        raw.pop(key)
    raw["schema_version"] = 4
    old = BundleMeta.from_json(json.dumps(raw))
    assert old.schema_version == 4 and old.range == {} and old.test_range == {}
