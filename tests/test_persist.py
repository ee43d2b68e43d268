"""Model persistence: save/load round-trips give bit-identical worlds; foreign, corrupt, truncated or
tampered files are refused with ModelFileError naming the file, and loading never runs code."""

import json
import pickle
import shutil
import warnings

import numpy as np
import pytest

from stressgen import atomic, generators, persist, rng
from stressgen.errors import ModelFileError, UnsavableGeneratorError
from stressgen.generators import BootstrapConfig, GarchConfig


@pytest.fixture(scope="module")
def fits(small_market):
    key = rng.root(0)
    out = {}
    for name, config in [("bootstrap", BootstrapConfig(mean_block=7.5, history_days=100)),
                         ("garch", GarchConfig(innovations="gaussian-copula", history_days=100))]:
        gen = generators.get(name)
        with warnings.catch_warnings():  # XOM hits the persistence cap on this window; the fit warns
            warnings.simplefilter("ignore", generators.garch.GarchFitWarning)
            out[name] = (gen, gen.fit(small_market, key=key, config=config))
    return out


@pytest.fixture
def saved(fits, tmp_path):
    gen, fitted = fits["bootstrap"]
    return persist.save_model(tmp_path / "model", gen, fitted)


@pytest.mark.parametrize("name", ["bootstrap", "garch"])
def test_round_trip_is_bit_identical(fits, tmp_path, name):
    gen, fitted = fits[name]
    path = persist.save_model(tmp_path / name, gen, fitted)
    assert sorted(p.name for p in path.iterdir()) == [".stressgen", persist.ARRAYS_FILE, persist.MODEL_JSON]
    gen2, fitted2 = persist.load_model(path)
    assert type(gen2) is type(gen) and fitted2.config == fitted.config and fitted2.digest == fitted.digest
    key = rng.stream(rng.root(3), rng.SAMPLE)
    for first_world in (0, 37):  # also a chunk that does not start at world 0
        a = gen.sample(fitted, key=key, n_worlds=16, horizon=25, first_world=first_world)
        b = gen2.sample(fitted2, key=key, n_worlds=16, horizon=25, first_world=first_world)
        assert np.array_equal(np.asarray(a.log_returns), np.asarray(b.log_returns))
        assert a.provenance == b.provenance and a.assets == b.assets and a.history_end == b.history_end
        assert np.array_equal(np.asarray(a.history), np.asarray(b.history))
        assert np.array_equal(np.asarray(a.anchor_prices), np.asarray(b.anchor_prices))


def test_manifest_contents(saved):
    doc = json.loads((saved / persist.MODEL_JSON).read_text())
    assert doc["format"] == persist.FORMAT and doc["format_version"] == persist.FORMAT_VERSION
    assert doc["generator"] == "bootstrap" and doc["stressgen_version"]
    assert doc["meta"]["config"] == {"mean_block": 7.5, "history_days": 100, "matching": "state", "neighbours": None,
                                     "decay": 0.94}
    assert set(doc["arrays"]["tensors"]) == {"returns", "mean_block", "sorted_state", "order", "innovation",
                                             "state_end", "neighbours", "context.history", "context.anchor_prices"}


def test_save_replaces_a_model_but_not_other_directories(fits, saved, tmp_path):
    gen, fitted = fits["garch"]
    persist.save_model(saved, gen, fitted)  # a model directory is replaced as a whole
    assert persist.load_model(saved)[0].name == "garch"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary directories left behind
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(Exception, match="refusing to overwrite"):
        persist.save_model(other, gen, fitted)
    assert (other / "keep.txt").read_text() == "mine"


def test_interrupted_save_keeps_the_previous_model(fits, saved, tmp_path, monkeypatch):
    gen, fitted = fits["garch"]
    calls = []

    def failing_write(path, payload):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        path.write_bytes(payload)

    monkeypatch.setattr(atomic, "fsync_write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        persist.save_model(saved, gen, fitted)
    assert persist.load_model(saved)[0].name == "bootstrap"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert len(list((saved / atomic.STORE / "versions").iterdir())) == 1  # the failed version is gone


def test_unsavable_family():
    class NoSave(generators.AbstractGenerator):
        name = "nosave"
        config_type = BootstrapConfig

        def fit(self, market, *, key, config=None):
            return None

        def sample(self, fitted, *, key, n_worlds, horizon, condition=None, first_world=0):
            return None

    with pytest.raises(UnsavableGeneratorError, match="'nosave' cannot be saved"):
        persist.save_model("unused", NoSave(), None)


class _Evil:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_manifest_is_refused_without_running(saved, tmp_path):
    marker = tmp_path / "pwned"
    (saved / persist.MODEL_JSON).write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(ModelFileError, match="pickle") as info:
        persist.load_model(saved)
    assert str(saved / persist.MODEL_JSON) in str(info.value)
    assert not marker.exists()


def test_pickle_arrays_with_forged_manifest_are_refused(saved, tmp_path):
    marker = tmp_path / "pwned"
    blob = pickle.dumps({"returns": _Evil(marker)})
    (saved / persist.ARRAYS_FILE).write_bytes(blob)
    doc = json.loads((saved / persist.MODEL_JSON).read_text())
    doc["arrays"]["bytes"] = len(blob)
    doc["arrays"]["sha256"] = __import__("hashlib").sha256(blob).hexdigest()
    (saved / persist.MODEL_JSON).write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="not a readable safetensors file") as info:
        persist.load_model(saved)
    assert str(saved / persist.ARRAYS_FILE) in str(info.value)
    assert not marker.exists()


def _edit_manifest(saved, fn):
    doc = json.loads((saved / persist.MODEL_JSON).read_text())
    fn(doc)
    (saved / persist.MODEL_JSON).write_text(json.dumps(doc))


@pytest.mark.parametrize("case, match", [
    ("truncated_arrays", "truncated"),
    ("flipped_byte", "SHA-256 does not match"),
    ("missing_arrays", "arrays file is missing"),
    ("missing_manifest", "no model.json"),
    ("not_json", "not valid JSON"),
    ("foreign_json", "not a stressgen model manifest"),
    ("future_version", "format version 99 is not supported"),
    ("unknown_generator", "'vae9', which is not installed"),
    ("tampered_config", "fit digest"),
    ("missing_meta", "key 'meta' is missing"),
])
def test_corrupt_or_foreign_model_is_refused(saved, case, match):
    arrays, manifest = saved / persist.ARRAYS_FILE, saved / persist.MODEL_JSON
    if case == "truncated_arrays":
        arrays.write_bytes(arrays.read_bytes()[:-10])
    elif case == "flipped_byte":
        blob = bytearray(arrays.read_bytes())
        blob[-1] ^= 0xFF
        arrays.write_bytes(bytes(blob))
    elif case == "missing_arrays":
        arrays.unlink()
    elif case == "missing_manifest":
        manifest.unlink()
    elif case == "not_json":
        manifest.write_bytes(b"\x00\x01garbage")
    elif case == "foreign_json":
        manifest.write_text('{"format": "keras", "weights": []}')
    elif case == "future_version":
        _edit_manifest(saved, lambda d: d.update(format_version=99))
    elif case == "unknown_generator":
        _edit_manifest(saved, lambda d: d.update(generator="vae9"))
    elif case == "tampered_config":
        _edit_manifest(saved, lambda d: d["meta"]["config"].update(history_days=101))
    elif case == "missing_meta":
        _edit_manifest(saved, lambda d: d.pop("meta"))
    with pytest.raises(ModelFileError, match=match) as info:
        persist.load_model(saved)
    assert str(saved) in str(info.value)


def test_missing_directory(tmp_path):
    with pytest.raises(ModelFileError, match="model directory not found"):
        persist.load_model(tmp_path / "nope")


def test_model_file_error_is_typed(saved):
    shutil.rmtree(saved)
    with pytest.raises(ModelFileError) as info:
        persist.load_model(saved)
    from stressgen.errors import DataError, StressgenError

    assert isinstance(info.value, DataError) and isinstance(info.value, StressgenError)
