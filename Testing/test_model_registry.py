"""The model registry: where cards are found, duplicates, checksums, offline import (folder, zip).

These tests need no torch: a weights file is only bytes with a sha256 until something loads it
(loading and MONAI bundles are in test_model_runtime.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import zipfile
from pathlib import Path

import pytest
from model_fixtures import tiny_card

from assistcore.errors import ChecksumError, ModelError
from assistcore.models.card import load_model_card
from assistcore.models.registry import ModelRegistry, bundled_models_dir, user_models_dir
from assistcore.models.weights import forget_verified, sha256_of, verify_weights


def make_card_folder(folder: Path, model_id: str, synthetic: bool = True, payload: bytes | None = None) -> Path:
    """A model folder whose 'weights' are random bytes with their true sha256 in the card."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = payload if payload is not None else os.urandom(4096)
    (folder / "model.pt").write_bytes(payload)
    card = tiny_card(hashlib.sha256(payload).hexdigest(), model_id, synthetic)
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder


def flip_one_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def model_folders(tmp_path, monkeypatch):
    """Empty bundled, user and two env model folders, wired through the environment variables."""
    folders = {name: tmp_path / name for name in ("bundled", "user", "env1", "env2")}
    for folder in folders.values():
        folder.mkdir()
    monkeypatch.setenv("RADASSIST_BUNDLED_MODELS", str(folders["bundled"]))
    monkeypatch.setenv("RADASSIST_USER_MODELS", str(folders["user"]))
    monkeypatch.setenv("RADASSIST_MODELS_PATH", os.pathsep.join([str(folders["env1"]), str(folders["env2"])]))
    forget_verified()
    return folders


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test: imports must work offline."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_default_locations_are_the_repository_models_and_a_per_user_folder(monkeypatch):
    monkeypatch.delenv("RADASSIST_BUNDLED_MODELS", raising=False)
    monkeypatch.delenv("RADASSIST_USER_MODELS", raising=False)
    assert bundled_models_dir() == Path(__file__).resolve().parents[1] / "Resources" / "Models"
    assert user_models_dir().name == "models" and "radassist" in str(user_models_dir())


def test_registry_finds_models_in_bundled_user_and_env_folders(model_folders):
    make_card_folder(model_folders["bundled"] / "a", "model-a")
    make_card_folder(model_folders["user"] / "b", "model-b")
    make_card_folder(model_folders["env2"] / "c", "model-c")
    registry = ModelRegistry()
    assert registry.search_paths == [model_folders[name] for name in ("bundled", "user", "env1", "env2")]
    assert {(e.card.id, e.source, e.folder.name) for e in registry.list()} == {
        ("model-a", "bundled", "a"),
        ("model-b", "user", "b"),
        ("model-c", "env", "c"),
    }


def test_a_duplicate_id_prefers_user_and_env_over_bundled_and_records_what_it_hides(model_folders):
    make_card_folder(model_folders["bundled"] / "demo", "brain")
    make_card_folder(model_folders["user"] / "mine", "brain")
    registry = ModelRegistry()
    (entry,) = registry.list()
    assert entry.source == "user" and entry.shadows == f"bundled:{model_folders['bundled'] / 'demo'}"
    assert [(hidden.source, hidden.folder.name) for hidden in registry.shadowed] == [("bundled", "demo")]
    make_card_folder(model_folders["env1"] / "site", "brain")
    registry.refresh()
    assert registry.get("brain").source == "env" and registry.get("brain").shadows.startswith("user:")
    assert [hidden.source for hidden in registry.shadowed] == ["bundled", "user"]


def test_staging_folders_and_broken_cards_do_not_hide_good_models(model_folders):
    make_card_folder(model_folders["user"] / ".brain.x1y2.tmp", "half-written")  # an import in progress
    make_card_folder(model_folders["user"] / "good", "good")
    broken = model_folders["user"] / "broken"
    broken.mkdir()
    (broken / "model_card.json").write_text('{"id": "broken"}')
    registry = ModelRegistry()
    assert [entry.card.id for entry in registry.list()] == ["good"]
    (problem,) = registry.problems
    assert "broken/model_card.json" in problem and "required property" in problem


def test_unknown_model_id_lists_the_known_ones(model_folders):
    make_card_folder(model_folders["bundled"] / "a", "model-a")
    make_card_folder(model_folders["user"] / "b", "model-b")
    with pytest.raises(ModelError, match="Unknown model 'nope'. Known models: model-a, model-b"):
        ModelRegistry().get("nope")


def test_default_model_prefers_site_and_user_models_then_real_data_over_demos(model_folders):
    make_card_folder(model_folders["bundled"] / "demo", "a-demo")
    registry = ModelRegistry()
    assert registry.default_for("brain_tumor").card.id == "a-demo"
    make_card_folder(model_folders["bundled"] / "real", "z-real", synthetic=False)
    registry.refresh()
    assert registry.default_for("brain_tumor").card.id == "z-real"
    make_card_folder(model_folders["user"] / "u", "user-demo")
    registry.refresh()
    assert registry.default_for("brain_tumor").card.id == "user-demo"
    with pytest.raises(ModelError, match="No model for the spine assistant"):
        registry.default_for("spine")


def test_verify_detects_a_tampered_weights_file_and_names_it(model_folders):
    folder = make_card_folder(model_folders["user"] / "m", "model-m")
    make_card_folder(model_folders["user"] / "ok", "model-ok")
    registry = ModelRegistry()
    assert all(result.ok for result in registry.verify())
    expected = sha256_of(folder / "model.pt")
    flip_one_byte(folder / "model.pt")
    results = {result.id: result for result in registry.verify()}
    assert results["model-ok"].ok
    bad = results["model-m"]
    assert not bad.ok and bad.expected == expected and bad.actual == sha256_of(folder / "model.pt") != expected
    assert bad.path == (folder / "model.pt").resolve() and str(bad.path) in bad.message
    assert [result.id for result in registry.verify("model-ok")] == ["model-ok"]


def test_checksum_error_names_file_expected_actual_and_what_to_do(model_folders):
    folder = make_card_folder(model_folders["user"] / "m", "model-m")
    card = load_model_card(folder)
    assert verify_weights(card) == card.weights_path  # verified once, remembered...
    flip_one_byte(folder / "model.pt")
    with pytest.raises(ChecksumError) as caught:  # ...but an edited file is hashed again
        verify_weights(card)
    error = caught.value
    assert str(card.weights_path) in str(error) and card.weights_sha256 in str(error) and error.actual in str(error)
    assert "radassist models verify" in error.hint and "re-import" in error.hint


def test_a_missing_weights_file_is_a_model_error_not_a_checksum_error(model_folders):
    folder = make_card_folder(model_folders["user"] / "m", "model-m")
    (folder / "model.pt").unlink()
    with pytest.raises(ModelError, match="Weights file of model model-m is missing") as caught:
        verify_weights(load_model_card(folder))
    assert not isinstance(caught.value, ChecksumError)
    (result,) = ModelRegistry().verify()
    assert not result.ok and "missing" in result.message


def test_import_from_a_folder_works_offline_and_leaves_no_staging(model_folders, tmp_path, no_network):
    source = make_card_folder(tmp_path / "incoming" / "whatever", "imported")
    (source / "README.md").write_text("notes travel with the model")
    registry = ModelRegistry()
    entry = registry.import_model(source)
    assert (entry.source, entry.folder) == ("user", model_folders["user"] / "imported")
    assert (entry.folder / "README.md").is_file() and verify_weights(entry.card)
    assert sorted(p.name for p in model_folders["user"].iterdir()) == ["imported"]
    assert registry.get("imported") == entry


def test_import_from_zip_with_or_without_a_top_folder(model_folders, tmp_path, no_network):
    source = make_card_folder(tmp_path / "m1", "zipped-nested")
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as archive:
        for file in source.iterdir():
            archive.write(file, f"m1/{file.name}")
    flat_source = make_card_folder(tmp_path / "m2", "zipped-flat")
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as archive:
        for file in flat_source.iterdir():
            archive.write(file, file.name)
    registry = ModelRegistry()
    assert registry.import_model(nested).card.id == "zipped-nested"
    assert registry.import_model(flat).card.id == "zipped-flat"
    assert all(result.ok for result in registry.verify())


def test_zip_with_a_path_escaping_the_folder_is_refused_and_nothing_is_written(model_folders, tmp_path):
    source = make_card_folder(tmp_path / "m", "evil")
    for member in ("../../escaped.txt", "/tmp/absolute-escape.txt", "m/../../escaped.txt"):
        archive_path = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive_path, "w") as archive:
            for file in source.iterdir():
                archive.write(file, f"m/{file.name}")
            archive.writestr(member, "gotcha")
        with pytest.raises(ModelError, match="unsafe path"):
            ModelRegistry().import_model(archive_path)
    assert list(model_folders["user"].iterdir()) == []
    assert not (tmp_path.parent / "escaped.txt").exists() and not Path("/tmp/absolute-escape.txt").exists()


def test_import_refuses_tampered_weights_before_writing_anything(model_folders, tmp_path):
    source = make_card_folder(tmp_path / "m", "tampered")
    flip_one_byte(source / "model.pt")
    with pytest.raises(ChecksumError, match="model.pt"):
        ModelRegistry().import_model(source)
    assert list(model_folders["user"].iterdir()) == []


def test_import_over_an_existing_model_needs_overwrite(model_folders, tmp_path):
    registry = ModelRegistry()
    registry.import_model(make_card_folder(tmp_path / "v1", "same", payload=b"version one" * 100))
    newer = make_card_folder(tmp_path / "v2", "same", payload=b"version two" * 100)
    with pytest.raises(ModelError, match="already exists"):
        registry.import_model(newer)
    entry = registry.import_model(newer, overwrite=True)
    assert entry.card.weights_path.read_bytes() == b"version two" * 100
    assert sorted(p.name for p in model_folders["user"].iterdir()) == ["same"]


def test_import_into_an_explicit_destination_adds_it_to_the_search(model_folders, tmp_path):
    registry = ModelRegistry()
    entry = registry.import_model(make_card_folder(tmp_path / "m", "elsewhere"), destination=tmp_path / "site")
    assert entry.folder == tmp_path / "site" / "elsewhere" and tmp_path / "site" in registry.search_paths


def test_importing_something_that_is_not_a_model_says_what_was_expected(model_folders, tmp_path):
    with pytest.raises(ModelError, match="Model to import not found"):
        ModelRegistry().import_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"No model_card.json or MONAI bundle \(configs/metadata.json\)"):
        ModelRegistry().import_model(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="neither a folder nor a zip"):
        ModelRegistry().import_model(tmp_path / "notes.txt")


def test_importing_the_model_runtime_imports_no_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from assistcore.models import ModelRegistry, load_model_card, select_device, load_network, CancelToken\n"
        "import assistcore.models.loader, assistcore.models.device, assistcore.models.runner\n"
        "print(sorted(m for m in ('torch', 'monai', 'SimpleITK', 'jsonschema') if m in sys.modules))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
