"""Model cards, registry, checksums, MONAI bundle import, device policy, cached loading and the runner."""

from __future__ import annotations

import json
import threading
import time
import zipfile

import pytest
from model_fixtures import make_monai_bundle, make_tiny_model_folder, tiny_card

from assistcore.errors import CancelledError, ChecksumError, ModelError
from assistcore.models.card import load_model_card, validate_card_data
from assistcore.models.registry import ModelRegistry
from assistcore.models.runner import (
    CancelToken,
    ProgressEvent,
    ProgressReporter,
    count_sliding_windows,
    start_in_thread,
)

VALID_SHA = "0" * 64


@pytest.fixture
def isolated_model_folders(tmp_path, monkeypatch):
    folders = {name: tmp_path / name for name in ("bundled", "user", "env")}
    for folder in folders.values():
        folder.mkdir()
    monkeypatch.setenv("RADASSIST_BUNDLED_MODELS", str(folders["bundled"]))
    monkeypatch.setenv("RADASSIST_USER_MODELS", str(folders["user"]))
    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(folders["env"]))
    return folders


# ----- card schema (no torch) ---------------------------------------------------------------------
def test_a_complete_card_is_valid():
    validate_card_data(tiny_card(VALID_SHA))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda c: c["weights"].pop("sha256"), "weights"),
        (lambda c: c["labels"][0]["snomed"].pop("type"), "labels/0/snomed"),
        (lambda c: c.pop("intended_use"), "top level"),
        (lambda c: c["weights"].update(sha256="abc"), "weights/sha256"),
    ],
)
def test_cards_missing_required_facts_are_refused_with_the_json_path(change, where):
    card = tiny_card(VALID_SHA)
    change(card)
    with pytest.raises(ModelError, match=where):
        validate_card_data(card, "card.json")


def test_a_synthetic_demo_card_must_say_so_in_its_intended_use():
    card = tiny_card(VALID_SHA)
    card["intended_use"] = "Detects tumours in brain MRI."
    with pytest.raises(ModelError, match="intended_use"):
        validate_card_data(card)


# ----- registry and checksums --------------------------------------------------------------------
@pytest.mark.models
def test_registry_finds_models_in_all_three_places_and_later_ids_win(isolated_model_folders):
    make_tiny_model_folder(isolated_model_folders["bundled"] / "a", "model-a")
    make_tiny_model_folder(isolated_model_folders["user"] / "b", "model-b")
    make_tiny_model_folder(isolated_model_folders["env"] / "a2", "model-a")
    registry = ModelRegistry()
    assert {(e.card.id, e.source) for e in registry.list()} == {("model-a", "env"), ("model-b", "user")}
    assert registry.get("model-a").shadows.startswith("bundled:")
    assert registry.default_for("brain_tumor").source == "env"
    with pytest.raises(ModelError, match="model-a, model-b"):
        registry.get("nope")


@pytest.mark.models
def test_tampered_weights_fail_verification_and_are_never_loaded(isolated_model_folders, monkeypatch):
    import torch

    from assistcore.models.loader import clear_model_cache, load_network

    folder = make_tiny_model_folder(isolated_model_folders["user"] / "m")
    weights = folder / "model.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    registry = ModelRegistry()
    (result,) = registry.verify()
    assert not result.ok and result.actual != result.expected
    loads = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a))
    clear_model_cache()
    with pytest.raises(ChecksumError, match=r"model\.pt.*fails its checksum"):
        load_network(registry.get("tiny-brain").card)
    assert loads == [], "torch.load must not run on a file that failed its checksum"


@pytest.mark.models
def test_loaded_network_is_cached_per_process(isolated_model_folders):
    from assistcore.models.loader import clear_model_cache, load_network

    make_tiny_model_folder(isolated_model_folders["user"] / "m")
    card = ModelRegistry().get("tiny-brain").card
    clear_model_cache()
    first = load_network(card, "cpu")
    started = time.perf_counter()
    assert load_network(card, "cpu") is first
    assert time.perf_counter() - started < first_load_budget_s()


def first_load_budget_s() -> float:
    return 0.05  # a dictionary lookup; loading takes far longer (not a timing test of the loader itself)


@pytest.mark.models
def test_import_from_folder_and_zip_works_offline(isolated_model_folders, tmp_path):
    source = make_tiny_model_folder(tmp_path / "incoming", "site-model", synthetic=False)
    registry = ModelRegistry()
    entry = registry.import_model(source)
    assert entry.source == "user" and (isolated_model_folders["user"] / "site-model" / "model.pt").is_file()
    with pytest.raises(ModelError, match="already exists"):
        registry.import_model(source)
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in source.iterdir():
            zipped.write(path, f"site-model/{path.name}")
    assert registry.import_model(archive, overwrite=True).card.id == "site-model"


def test_zip_with_a_path_escaping_the_folder_is_refused(isolated_model_folders, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("../../outside.txt", "x")
    with pytest.raises(ModelError, match="unsafe path"):
        ModelRegistry().import_model(archive)
    assert not (tmp_path.parent / "outside.txt").exists()


@pytest.mark.models
def test_monai_bundle_imports_as_is_and_runs(isolated_model_folders, tmp_path):
    import torch

    from assistcore.models.loader import load_network

    bundle = make_monai_bundle(tmp_path / "brats_mri_segmentation")
    entry = ModelRegistry().import_model(bundle)
    card = entry.card
    assert [channel["name"] for channel in card.input_channels] == ["T1c", "T1", "T2", "FLAIR"]
    assert [label["name"] for label in card.labels] == ["Tumor core", "Whole tumor", "Enhancing tumor"]
    assert card.data["inference"]["roi_size"] == [240, 240, 160]
    assert (entry.folder / "configs" / "metadata.json").is_file()
    network = load_network(card, "cpu", cache=False)
    with torch.inference_mode():
        output = network(torch.zeros(1, 4, 32, 32, 32))
    assert tuple(output.shape) == (1, 3, 32, 32, 32)
    load_model_card(entry.folder)  # the written card validates


# ----- device policy ------------------------------------------------------------------------------
@pytest.mark.models
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    import torch

    from assistcore.models.device import select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("auto").device == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device("auto").device == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Test GPU")
    assert select_device("auto").device == "cuda"
    with pytest.raises(ModelError, match="Unknown device"):
        select_device("tpu")


@pytest.mark.models
def test_cuda_unavailable_when_requested_is_a_clear_error(monkeypatch):
    import torch

    from assistcore.models.device import select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="cuda:1"):
        select_device("cuda:1")


@pytest.mark.models
def test_out_of_memory_falls_back_to_smaller_windows_then_cpu(monkeypatch):
    import torch

    from assistcore.models.device import run_with_oom_fallback

    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    calls = []

    def infer(device, roi):
        calls.append((device, roi))
        if device == "cuda" and roi > 64:
            raise torch.cuda.OutOfMemoryError("out of memory")
        return f"{device}:{roi}"

    result, log = run_with_oom_fallback(infer, "cuda", [128, 96, 64])
    assert result == "cuda:64" and log.fell_back and len(log.events) == 2
    result, log = run_with_oom_fallback(lambda d, r: infer(d, r + 100) if d == "cuda" else "cpu-ok", "cuda", [1, 2])
    assert result == "cpu-ok" and log.device == "cpu" and "CPU" in log.events[-1]


# ----- runner -------------------------------------------------------------------------------------
def _slow_pipeline(steps, progress, cancel_token, fail_at=None):
    for step in range(steps):
        cancel_token.raise_if_cancelled()
        if step == fail_at:
            raise ValueError("broken step")
        time.sleep(0.01)
        progress(ProgressEvent("work", (step + 1) / steps, f"step {step + 1}"))
    return "finished"


def test_runner_delivers_progress_in_order_and_the_result():
    handle = start_in_thread(_slow_pipeline, 5)
    assert handle.wait(10)
    events = handle.poll()
    assert [event.fraction for event in events] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert handle.result() == "finished"


def test_cancel_stops_the_run_at_the_next_step():
    started = threading.Event()

    def pipeline(progress, cancel_token):
        for _ in range(10_000):
            started.set()
            cancel_token.raise_if_cancelled()
            time.sleep(0.001)
        return "should not finish"

    handle = start_in_thread(pipeline)
    started.wait(5)
    handle.cancel()
    assert handle.wait(5)
    with pytest.raises(CancelledError):
        handle.result()


def test_a_worker_exception_surfaces_from_result():
    handle = start_in_thread(_slow_pipeline, 5, fail_at=2)
    handle.wait(10)
    with pytest.raises(ValueError, match="broken step"):
        handle.result()


def test_progress_reporter_weights_stages():
    events = []
    report = ProgressReporter([("load", 1), ("infer", 3)], events.append)
    report("load", 1.0)
    report("infer", 0.5)
    assert [round(event.fraction, 3) for event in events] == [0.25, 0.625]


def test_window_count_matches_monais_scan():
    assert count_sliding_windows((100, 100, 100), (64, 64, 64), 0.25) == 8
    assert count_sliding_windows((32, 32, 32), (64, 64, 64), 0.5) == 1


@pytest.mark.models
def test_sliding_window_inference_reports_windows_and_cancels():
    import torch

    from assistcore.models.runner import sliding_window_inference_with_progress

    fractions = []
    output = sliding_window_inference_with_progress(
        torch.zeros(1, 1, 40, 40, 40), lambda x: x + 1, (32, 32, 32), 0.25, progress=lambda f, m: fractions.append(f)
    )
    assert float(output.mean()) == pytest.approx(1.0)
    assert len(fractions) == count_sliding_windows((40, 40, 40), (32, 32, 32), 0.25) and fractions[-1] == 1.0
    token = CancelToken()

    def cancel_after_first(window):
        token.cancel()
        return window

    with pytest.raises(CancelledError):
        sliding_window_inference_with_progress(
            torch.zeros(1, 1, 40, 40, 40), cancel_after_first, (32, 32, 32), 0.25, cancel_token=token
        )


def test_card_json_written_by_registry_is_readable(tmp_path):
    path = tmp_path / "model_card.json"
    path.write_text(json.dumps(tiny_card(VALID_SHA)))
    assert load_model_card(tmp_path).display_name.endswith("not for clinical use)")
