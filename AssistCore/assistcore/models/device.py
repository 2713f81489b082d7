"""Device policy: auto = CUDA, then Apple MPS, then CPU; out of GPU memory falls back and says so."""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelError

_DEVICE_HINT = "Use --device auto or --device cpu; `radassist info` shows which devices this machine has."


@dataclass(frozen=True)
class DeviceChoice:
    """The torch device string to use and why it was chosen (shown in logs and `radassist info`)."""

    device: str  # "cuda", "cuda:1", "mps" or "cpu"
    reason: str


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(preference: str = "auto") -> DeviceChoice:
    """Resolve a device preference to an available torch device.

    :param preference: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    :raises ModelError: an explicit device that this machine does not have, or an unknown name.

    ``cpu`` never imports torch (the CPU runs ONNX exports). Inside an OpenGL host (3D Slicer,
    :func:`~assistcore.models.onnx_runtime.set_gui_host`) devices are ONNX Runtime's, and torch is never
    imported; without torch installed, ``auto`` is the CPU.
    """
    import importlib.util

    from .onnx_runtime import is_gui_host

    preference = (preference or "auto").strip().lower()
    if preference == "cpu":
        return DeviceChoice("cpu", "requested")
    if is_gui_host():
        return _select_onnx_device(preference)
    if importlib.util.find_spec("torch") is None:
        if preference == "auto":
            return DeviceChoice("cpu", "auto: torch is not installed, ONNX Runtime on the CPU")
        raise ModelError(f"Device {preference} needs torch, which is not installed.", _DEVICE_HINT)
    import torch

    cuda = torch.cuda.is_available()
    if preference == "auto":
        if cuda:
            return DeviceChoice("cuda", f"auto: CUDA GPU {torch.cuda.get_device_name(0)}")
        if _mps_available(torch):
            return DeviceChoice("mps", "auto: Apple MPS (no CUDA GPU)")
        return DeviceChoice("cpu", "auto: no CUDA or MPS device found, using the CPU")
    if preference == "cpu":
        return DeviceChoice("cpu", "requested")
    if preference == "cuda" or preference.startswith("cuda:"):
        index_text = preference.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise ModelError(f"Unknown device {preference!r}.", "Use auto, cpu, cuda, cuda:N or mps.")
        if not cuda:
            raise ModelError(
                f"Device {preference} was requested but no CUDA GPU is available "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}).",
                _DEVICE_HINT + " Check the NVIDIA driver and that the installed torch is a CUDA build.",
            )
        count = torch.cuda.device_count()
        if int(index_text) >= count:
            raise ModelError(
                f"Device {preference} was requested but this machine has {count} CUDA GPU(s) "
                f"(cuda:0..cuda:{count - 1}).",
                _DEVICE_HINT,
            )
        return DeviceChoice(preference, f"requested: {torch.cuda.get_device_name(int(index_text))}")
    if preference == "mps":
        if not _mps_available(torch):
            raise ModelError("Device mps was requested but Apple MPS is not available on this machine.", _DEVICE_HINT)
        return DeviceChoice("mps", "requested")
    raise ModelError(f"Unknown device {preference!r}.", "Use auto, cpu, cuda, cuda:N or mps.")


def _select_onnx_device(preference: str) -> DeviceChoice:
    """:func:`select_device` inside an OpenGL host: CUDA through ONNX Runtime's CUDA provider (the
    ``onnxruntime-gpu`` package), else the CPU."""
    import onnxruntime

    cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    if preference == "auto":
        if cuda:
            return DeviceChoice("cuda", "auto: CUDA through ONNX Runtime (onnxruntime-gpu)")
        return DeviceChoice("cpu", "auto: ONNX Runtime on the CPU (install onnxruntime-gpu to use an NVIDIA GPU)")
    if preference == "cuda" or preference.startswith("cuda:"):
        if not cuda:
            raise ModelError(
                f"Device {preference} was requested, but inside 3D Slicer networks run with ONNX Runtime, and this "
                "ONNX Runtime has no CUDA provider.",
                "Choose the CPU, or in Slicer's Python console replace onnxruntime by onnxruntime-gpu: "
                "slicer.util.pip_uninstall('onnxruntime'); slicer.util.pip_install('onnxruntime-gpu').",
            )
        return DeviceChoice(preference, "requested: CUDA through ONNX Runtime")
    if preference == "mps":
        raise ModelError("Apple MPS is not available inside 3D Slicer (ONNX Runtime).", "Choose the CPU.")
    raise ModelError(f"Unknown device {preference!r}.", "Use auto, cpu, cuda, cuda:N or mps.")


@dataclass
class FallbackLog:
    """What happened on the way to a result, in plain words for logs and result files.

    ``device`` and ``setting`` are what finally produced the result; ``events`` lists each failed try
    (empty when the first try worked).
    """

    device: str
    setting: Any = None
    events: list[str] = field(default_factory=list)

    @property
    def fell_back(self) -> bool:
        return bool(self.events)

    def summary(self) -> str:
        """One sentence: where it ran, and what was given up on the way."""
        done = f"ran on {self.device}" + (f" with setting {self.setting}" if self.setting is not None else "")
        return "; ".join([*self.events, done]) + "."

    def to_dict(self) -> dict[str, Any]:
        setting = list(self.setting) if isinstance(self.setting, tuple) else self.setting
        return {"device": self.device, "setting": setting, "fell_back": self.fell_back, "events": list(self.events)}


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA (and MPS) out-of-memory errors, which a smaller setting or the CPU may avoid."""
    import torch

    out_of_memory = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    if isinstance(error, out_of_memory | torch.cuda.OutOfMemoryError):
        return True
    # MPS reports exhaustion as a plain RuntimeError
    return isinstance(error, RuntimeError) and "MPS backend out of memory" in str(error)


def _free_accelerator_memory(device: str) -> None:
    import torch

    gc.collect()  # the failed call's tensors are only garbage once its traceback is gone
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and _mps_available(torch):
        torch.mps.empty_cache()


def run_with_oom_fallback(
    function: Callable[[str, Any], Any], device: str, settings: Sequence[Any] = (None,)
) -> tuple[Any, FallbackLog]:
    """Call ``function(device, setting)`` with each setting in turn until one fits in GPU memory.

    ``settings`` go from the preferred to the most frugal (e.g. sliding-window roi sizes 160, 128, 96).
    On out-of-memory the accelerator's cache is freed and the next setting is tried; when none fits,
    ``function("cpu", settings[0])`` runs (CPU memory is usually far larger). Every failed try is recorded
    in the returned :class:`FallbackLog`. Other errors propagate unchanged; on the CPU nothing is retried.

    :returns: (the function's result, the log).
    """
    settings = list(settings) or [None]
    log = FallbackLog(device)
    if device == "cpu":
        result = function(device, settings[0])
        log.setting = settings[0]
        return result, log
    for setting in settings:
        try:
            result = function(device, setting)
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            first_line = (str(error).strip().splitlines() or [""])[0][:160]
            log.events.append(f"out of memory on {device} with setting {setting} ({first_line})")
        else:
            log.device, log.setting = device, setting
            return result, log
        # outside the except block: Python has dropped the exception, so the tensors its frames held can go
        _free_accelerator_memory(device)
    log.events.append(f"no setting fits on {device}: running on the CPU instead (slower)")
    result = function("cpu", settings[0])
    log.device, log.setting = "cpu", settings[0]
    return result, log
