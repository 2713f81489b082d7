"""Loading verified weights, the model cache, MONAI bundles, device policy, OOM fallback and the runner."""

from __future__ import annotations

import json
import threading
import zipfile
from pathlib import Path

import pytest
from model_fixtures import TINY_NETWORK, make_monai_bundle, make_tiny_model_folder

from assistcore.errors import CancelledError, ChecksumError, ModelError
from assistcore.models.card import load_model_card
from assistcore.models.registry import ModelRegistry
from assistcore.models.runner import (
    CancelToken,
    ProgressEvent,
    ProgressReporter,
    count_sliding_windows,
    start_in_thread,
)
from assistcore.models.weights import forget_verified


@pytest.fixture
def a_tiny_model_folder(tmp_path):
    """A RadAssist model folder: tiny SegResNet (4 -> 3 channels, seed 0) state dict + a valid card."""
    forget_verified()
    return make_tiny_model_folder(tmp_path / "tiny")


@pytest.fixture
def a_monai_bundle_folder(tmp_path):
    """A folder in MONAI bundle layout like brats_mri_segmentation (T1c, T1, T2, FLAIR -> TC, WT, ET)."""
    return make_monai_bundle(tmp_path / "brats_mri_segmentation")


@pytest.fixture
def user_models(tmp_path, monkeypatch):
    monkeypatch.setenv("RADASSIST_BUNDLED_MODELS", str(tmp_path / "bundled"))
    monkeypatch.setenv("RADASSIST_USER_MODELS", str(tmp_path / "user"))
    monkeypatch.delenv("RADASSIST_MODELS_PATH", raising=False)
    return tmp_path / "user"


@pytest.fixture(autouse=True)
def _empty_model_cache():
    yield
    if "assistcore.models.loader" in __import__("sys").modules:
        from assistcore.models.loader import clear_model_cache

        clear_model_cache()


def flip_one_byte(path, offset: int = -100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# ----- loading and caching --------------------------------------------------------------------------
@pytest.mark.models
def test_load_network_refuses_a_tampered_file_before_torch_load(a_tiny_model_folder, monkeypatch):
    import torch

    from assistcore.models.loader import load_network

    card = load_model_card(a_tiny_model_folder)
    flip_one_byte(card.weights_path)
    calls = []
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: calls.append(args))
    with pytest.raises(ChecksumError, match=str(card.weights_path)):
        load_network(card, "cpu", cache=False)
    assert calls == []


@pytest.mark.models
def test_load_network_reads_weights_only_and_strictly(a_tiny_model_folder, monkeypatch):
    import torch

    from assistcore.models.loader import load_network

    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    card = load_model_card(a_tiny_model_folder)
    network = load_network(card, "cpu", cache=False)
    assert seen["weights_only"] is True and not network.training
    expected = torch.load(card.weights_path, weights_only=True)
    assert all(torch.equal(network.state_dict()[key], value) for key, value in expected.items())


@pytest.mark.models
def test_loaded_network_is_cached_so_a_second_case_skips_loading(a_tiny_model_folder, monkeypatch):
    from assistcore.models import loader
    from assistcore.models.loader import cached_model_keys, clear_model_cache, load_network

    loads = []
    build_and_read = loader.network_from_weights

    def counting_network_from_weights(card, device):
        loads.append(card.id)
        return build_and_read(card, device)

    monkeypatch.setattr(loader, "network_from_weights", counting_network_from_weights)
    card = load_model_card(a_tiny_model_folder)
    first = load_network(card, "cpu")
    second = load_network(card, "cpu")
    assert second is first and len(loads) == 1  # the second case read no weights
    assert cached_model_keys() == [(card.id, card.weights_sha256, "cpu")]
    assert load_network(card, "cpu", cache=False) is not first
    clear_model_cache()
    assert load_network(card, "cpu") is not first
    assert len(loads) == 3  # without the cache, and after clearing it, the weights are read again


@pytest.mark.models
@pytest.mark.parametrize("wrap", ["model", "state_dict", "module_prefix"])
def test_state_dicts_wrapped_by_training_loops_load(a_tiny_model_folder, wrap):
    import torch

    from assistcore.models.loader import load_network
    from assistcore.models.weights import sha256_of

    card_path = a_tiny_model_folder / "model_card.json"
    state = torch.load(a_tiny_model_folder / "model.pt", weights_only=True)
    if wrap == "module_prefix":  # DataParallel
        saved = {f"module.{key}": value for key, value in state.items()}
    else:
        saved = {wrap: state, "epoch": 3}
    torch.save(saved, a_tiny_model_folder / "model.pt")
    data = json.loads(card_path.read_text())
    data["weights"]["sha256"] = sha256_of(a_tiny_model_folder / "model.pt")
    card_path.write_text(json.dumps(data))
    network = load_network(load_model_card(a_tiny_model_folder), "cpu", cache=False)
    assert torch.equal(network.state_dict()["conv_final.2.conv.bias"], state["conv_final.2.conv.bias"])


@pytest.mark.models
def test_weights_of_another_architecture_are_a_clear_model_error(a_tiny_model_folder):
    from assistcore.models.loader import load_network

    card_path = a_tiny_model_folder / "model_card.json"
    data = json.loads(card_path.read_text())
    data["network"] = {**TINY_NETWORK, "init_filters": 16}
    card_path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="do not fit the network of model tiny-brain"):
        load_network(load_model_card(a_tiny_model_folder), "cpu", cache=False)


@pytest.mark.models
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::torch.jit.TracerWarning")
def test_torchscript_weights_load_after_their_checksum(a_tiny_model_folder):
    import torch

    from assistcore.models.loader import build_network, load_network
    from assistcore.models.weights import sha256_of

    network = build_network(TINY_NETWORK).eval()
    scripted = torch.jit.trace(network, torch.zeros(1, 4, 16, 16, 16))
    scripted.save(str(a_tiny_model_folder / "model.ts"))
    card_path = a_tiny_model_folder / "model_card.json"
    data = json.loads(card_path.read_text())
    data["weights"] = {
        "file": "model.ts",
        "format": "torchscript",
        "sha256": sha256_of(a_tiny_model_folder / "model.ts"),
    }
    card_path.write_text(json.dumps(data))
    loaded = load_network(load_model_card(a_tiny_model_folder), "cpu", cache=False)
    assert loaded(torch.ones(1, 4, 16, 16, 16)).shape == (1, 3, 16, 16, 16)


# ----- MONAI bundles ----------------------------------------------------------------------------------
@pytest.mark.models
@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_monai_bundle_imports_as_is_and_its_network_runs(a_monai_bundle_folder, user_models, tmp_path, as_zip):
    import torch

    from assistcore.models.loader import load_network

    source = a_monai_bundle_folder
    if as_zip:  # MONAI's archive format: ModelName.zip holding ModelName/configs/...
        source = tmp_path / "brats_mri_segmentation.zip"
        with zipfile.ZipFile(source, "w") as archive:
            for file in a_monai_bundle_folder.rglob("*"):
                archive.write(file, file.relative_to(a_monai_bundle_folder.parent))
    entry = ModelRegistry().import_model(source)
    card = entry.card
    assert entry.folder == user_models / "brats_mri_segmentation"
    assert (entry.folder / "configs" / "metadata.json").is_file() and (entry.folder / "models" / "model.pt").is_file()
    assert [channel["name"] for channel in card.input_channels] == ["T1c", "T1", "T2", "FLAIR"]
    assert [(label["value"], label["name"], label["channel"]) for label in card.labels] == [
        (1, "Tumor core", 0),
        (2, "Whole tumor", 1),
        (3, "Enhancing tumor", 2),
    ]
    assert card.assistant == "brain_tumor" and not card.is_synthetic_demo
    assert card.inference == {"mode": "sliding_window", "roi_size": [240, 240, 160], "overlap": 0.5, "sw_batch_size": 1}
    assert card.data["validation"][0] == {
        "dataset": "as reported by the bundle (metadata.json eval_metrics)",
        "metric": "val_mean_dice",
        "value": 0.8518,
    }
    network = load_network(load_model_card(entry.folder), "cpu")
    with torch.no_grad():
        output = network(torch.randn(1, 4, 32, 32, 32))
    assert output.shape == (1, 3, 32, 32, 32) and torch.isfinite(output).all()


@pytest.mark.models
def test_bundle_network_references_resolve_and_expressions_are_refused(a_monai_bundle_folder, user_models):
    inference_path = a_monai_bundle_folder / "configs" / "inference.json"
    inference = json.loads(inference_path.read_text())
    inference["num_classes"] = 3
    inference["network_def"]["out_channels"] = "@num_classes"
    inference_path.write_text(json.dumps(inference))
    entry = ModelRegistry().import_model(a_monai_bundle_folder)
    assert entry.card.network["out_channels"] == 3
    inference["network_def"]["in_channels"] = "$__import__('os').getpid() and 4"
    inference_path.write_text(json.dumps(inference))
    with pytest.raises(ModelError, match="network_def/in_channels is a Python expression"):
        ModelRegistry().import_model(a_monai_bundle_folder, overwrite=True)


@pytest.mark.models
def test_a_softmax_bundle_gets_label_values_without_background(a_monai_bundle_folder, user_models):
    metadata_path = a_monai_bundle_folder / "configs" / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["network_data_format"]["outputs"]["pred"].update(
        format="labels", channel_def={"0": "background", "1": "spleen", "2": "liver"}
    )
    metadata_path.write_text(json.dumps(metadata))
    card = ModelRegistry().import_model(a_monai_bundle_folder).card
    assert [(label["value"], label["name"]) for label in card.labels] == [(1, "spleen"), (2, "liver")]
    assert card.postprocessing == [{"step": "softmax_argmax"}] and card.assistant == "generic"


@pytest.mark.models
def test_a_bundle_without_weights_or_network_is_refused(a_monai_bundle_folder, user_models):
    (a_monai_bundle_folder / "models" / "model.pt").unlink()
    with pytest.raises(ModelError, match="has no models/model.pt"):
        ModelRegistry().import_model(a_monai_bundle_folder)
    (a_monai_bundle_folder / "configs" / "inference.json").write_text("{}")
    with pytest.raises(ModelError, match="has no network_def"):
        ModelRegistry().import_model(a_monai_bundle_folder)
    assert not user_models.exists() or list(user_models.iterdir()) == []


# ----- device policy ----------------------------------------------------------------------------------
@pytest.mark.models
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    import torch

    from assistcore.models.device import select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Fake GPU")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device("auto").device == "cuda" and "Fake GPU" in select_device().reason
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device("auto").device == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    choice = select_device("auto")
    assert choice.device == "cpu" and "no CUDA or MPS" in choice.reason
    assert select_device("CPU").device == "cpu"


@pytest.mark.models
def test_explicit_devices_are_honoured_or_refused_with_a_hint(monkeypatch):
    import torch

    from assistcore.models.device import select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: f"GPU{index}")
    assert select_device("cuda:1") == select_device("cuda:1")
    assert select_device("cuda:1").device == "cuda:1" and "GPU1" in select_device("cuda:1").reason
    with pytest.raises(ModelError, match="has 2 CUDA GPU") as caught:
        select_device("cuda:2")
    assert "--device" in caught.value.hint
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="no CUDA GPU is available"):
        select_device("cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ModelError, match="MPS is not available"):
        select_device("mps")
    with pytest.raises(ModelError, match="Unknown device 'tpu'"):
        select_device("tpu")


@pytest.mark.models
def test_out_of_memory_falls_back_to_smaller_windows_then_cpu_and_says_so(monkeypatch):
    import torch

    from assistcore.models.device import run_with_oom_fallback

    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    tried = []

    def infer(device, roi_size):
        tried.append((device, roi_size))
        if device == "cuda" and roi_size > 64:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return f"{device}:{roi_size}"

    result, log = run_with_oom_fallback(infer, "cuda", [128, 96, 64])
    assert result == "cuda:64" and (log.device, log.setting) == ("cuda", 64) and log.fell_back
    assert log.events == [
        "out of memory on cuda with setting 128 (CUDA out of memory. Tried to allocate 2.00 GiB)",
        "out of memory on cuda with setting 96 (CUDA out of memory. Tried to allocate 2.00 GiB)",
    ]
    assert log.summary().endswith("ran on cuda with setting 64.")
    tried.clear()
    result, log = run_with_oom_fallback(infer, "cuda", [256, 128])
    assert result == "cpu:256" and tried[-1] == ("cpu", 256) and log.device == "cpu"
    assert "running on the CPU instead" in log.events[-1]
    assert json.loads(json.dumps(log.to_dict()))["fell_back"] is True
    result, log = run_with_oom_fallback(infer, "cuda", [32])
    assert result == "cuda:32" and not log.fell_back and log.summary() == "ran on cuda with setting 32."


@pytest.mark.models
def test_errors_other_than_out_of_memory_are_not_retried():
    from assistcore.models.device import run_with_oom_fallback

    calls = []

    def broken(device, setting):
        calls.append(device)
        raise ValueError("bad input shape")

    with pytest.raises(ValueError, match="bad input shape"):
        run_with_oom_fallback(broken, "cuda", [128, 64])
    assert calls == ["cuda"]


# ----- runner -------------------------------------------------------------------------------------------
def _stepwise_pipeline(steps, progress=None, cancel_token=None, fail_at=None):
    for index in range(steps):
        cancel_token.raise_if_cancelled()
        if index == fail_at:
            raise ModelError(f"step {index} failed")
        progress(ProgressEvent("work", (index + 1) / steps, f"step {index + 1}"))
    return "finished"


def test_runner_delivers_progress_in_order_and_the_result():
    handle = start_in_thread(_stepwise_pipeline, 5)
    assert handle.wait(5) and handle.done
    assert [event.message for event in handle.poll()] == [f"step {i}" for i in range(1, 6)]
    assert handle.poll() == []
    assert handle.result() == "finished"


def test_runner_also_hands_events_to_a_progress_callback():
    seen = []
    handle = start_in_thread(_stepwise_pipeline, 3, progress=seen.append)
    assert handle.result(timeout=5) == "finished"
    assert [event.fraction for event in seen] == pytest.approx([1 / 3, 2 / 3, 1.0])


def _gated_pipeline(gate: threading.Event, started: threading.Event, steps_done: list):
    """A pipeline whose every step waits for ``gate``: the test decides when steps may end, not a clock."""

    def pipeline(progress=None, cancel_token=None):
        for index in range(10_000):
            cancel_token.raise_if_cancelled()
            started.set()
            gate.wait()
            steps_done.append(index)
        return "not cancelled"

    return pipeline


def test_cancel_stops_a_long_run_at_the_next_step_and_result_raises():
    gate, started, steps_done = threading.Event(), threading.Event(), []
    handle = start_in_thread(_gated_pipeline(gate, started, steps_done))
    assert started.wait(30)  # the worker is inside its first step
    handle.cancel()
    gate.set()  # every step may end now: only the cancel token can stop the run
    assert handle.wait(30), "the run did not stop"
    assert steps_done == [0]  # the step under way finished; the next checkpoint stopped the run
    with pytest.raises(CancelledError, match="cancelled"):
        handle.result()


def test_a_worker_exception_surfaces_from_result():
    handle = start_in_thread(_stepwise_pipeline, 5, fail_at=2)
    handle.wait(5)
    with pytest.raises(ModelError, match="step 2 failed"):
        handle.result()
    assert [event.message for event in handle.poll()] == ["step 1", "step 2"]


def test_result_before_the_end_does_not_block():
    gate, started, steps_done = threading.Event(), threading.Event(), []
    handle = start_in_thread(_gated_pipeline(gate, started, steps_done))
    assert started.wait(30)
    with pytest.raises(RuntimeError, match="has not finished"):
        handle.result()  # the worker is held inside a step, so the run cannot have ended
    handle.cancel()
    gate.set()
    assert handle.wait(30)


def test_progress_reporter_maps_stage_fractions_onto_the_whole_run():
    events = []
    report = ProgressReporter([("load", 1), ("infer", 8), ("save", 1)], events.append)
    report("load", 1.0, "loaded")
    report(ProgressEvent("infer", 0.5, "window 2/4"))
    report.stage("infer")(1.0, "window 4/4")
    report("infer", 0.25)  # a late, smaller report never moves the bar back
    report("save", 1.0, "saved")
    assert [event.fraction for event in events] == pytest.approx([0.1, 0.5, 0.9, 0.9, 1.0])
    assert [event.stage for event in events] == ["load", "infer", "infer", "infer", "save"]
    with pytest.raises(KeyError, match="Unknown progress stage 'train'"):
        report("train", 0.5)


def test_window_count_formula_handles_padding_and_overlap():
    assert count_sliding_windows((100, 100, 100), (64, 64, 64), 0.25) == 8
    assert count_sliding_windows((32, 32, 32), (64, 64, 64), 0.5) == 1
    assert count_sliding_windows((240, 240, 155), (128, 128, 128), 0.5) == 3 * 3 * 2
    assert count_sliding_windows((40, 50), (32, None), [0.5, 0.0]) == 2


@pytest.mark.models
@pytest.mark.parametrize(
    ("image_size", "roi_size", "overlap"),
    [((100, 100, 100), (64, 64, 64), 0.25), ((37, 61, 20), (16, 32, 32), 0.5), ((97, 33, 18), (96, 32, 8), 0.9)],
)
def test_window_count_matches_monais_own_scan(image_size, roi_size, overlap):
    from monai.data.utils import dense_patch_slices
    from monai.inferers.utils import _get_scan_interval

    padded = [max(size, roi) for size, roi in zip(image_size, roi_size)]
    interval = _get_scan_interval(padded, roi_size, len(roi_size), (overlap,) * len(roi_size))
    assert count_sliding_windows(image_size, roi_size, overlap) == len(dense_patch_slices(padded, roi_size, interval))


@pytest.mark.models
def test_sliding_window_inference_reports_every_window_and_cancels_at_the_next(a_tiny_model_folder):
    import torch

    from assistcore.models.loader import load_network
    from assistcore.models.runner import sliding_window_inference_with_progress

    network = load_network(load_model_card(a_tiny_model_folder), "cpu")
    image = torch.randn(1, 4, 40, 40, 40)
    events = []
    with torch.no_grad():
        output = sliding_window_inference_with_progress(
            image, network, (32, 32, 32), 0.25, progress=events.append, sw_batch_size=3
        )
    total = count_sliding_windows((40, 40, 40), (32, 32, 32), 0.25)
    assert output.shape == (1, 3, 40, 40, 40) and total == 8
    assert [event.message for event in events] == ["window 3/8", "window 6/8", "window 8/8"]
    assert events[-1].fraction == 1.0 and {event.stage for event in events} == {"inference"}

    token, calls = CancelToken(), []

    def predictor(windows):
        calls.append(windows.shape[0])
        token.cancel()  # the user presses Cancel while the first window runs
        return network(windows)

    with pytest.raises(CancelledError), torch.no_grad():
        sliding_window_inference_with_progress(image, predictor, (32, 32, 32), 0.25, cancel_token=token)
    assert calls == [1]


@pytest.fixture
def a_copy_of_the_crm_model(tmp_path, monkeypatch):
    """The bundled CRM model (weights model.pt + ONNX model.onnx for the CPU) copied under its own id."""
    import json
    import shutil

    from assistcore.models.registry import ModelRegistry

    source = ModelRegistry().get("crm-demo").card.folder
    folder = Path(shutil.copytree(source, tmp_path / "models" / "crm-copy"))
    card = json.loads((folder / "model_card.json").read_text())
    card["id"] = "crm-copy"
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(tmp_path / "models"))
    return folder


@pytest.mark.models
@pytest.mark.cli
@pytest.mark.realdata
def test_the_report_names_the_sha256_of_the_file_that_ran_and_a_damaged_unused_file_is_refused(
    a_copy_of_the_crm_model, prostatex_t2_dir, tmp_path, capsys
):
    import json

    from assistcore.models.weights import forget_verified, sha256_of
    from radassist.cli.main import main

    args = ["crm", "--t2", str(prostatex_t2_dir), "--model", "crm-copy", "--device", "cpu", "--slices", "8:10"]
    assert main([*args, "--out", str(tmp_path / "ok")]) == 0, capsys.readouterr().err
    model = json.loads((tmp_path / "ok" / "report.json").read_text())["model"]
    ran = model["files_run"][0]
    assert ran["file"] == "model.onnx" and ran["format"] == "onnx"
    assert ran["sha256"] == sha256_of(a_copy_of_the_crm_model / "model.onnx") != model["weights_sha256"]
    capsys.readouterr()
    from assistcore.models.loader import clear_model_cache

    clear_model_cache()
    forget_verified()
    flip_one_byte(a_copy_of_the_crm_model / "model.pt")  # the CPU runs model.onnx, but the folder is damaged
    assert main([*args, "--out", str(tmp_path / "damaged")]) == 1
    err = capsys.readouterr().err
    assert "model.pt" in err and "fails its checksum" in err and "Traceback" not in err
    assert not (tmp_path / "damaged").exists()
