"""Device policy: auto = CUDA, then Apple MPS, then CPU; CUDA out-of-memory falls back and says so."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelError


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # "cuda", "cuda:1", "mps" or "cpu"
    reason: str


def select_device(preference: str = "auto") -> DeviceChoice:
    """Resolve a device preference (auto, cpu, cuda, cuda:N, mps) to an available device."""
    import torch

    preference = (preference or "auto").lower()
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if preference == "auto":
        if cuda:
            return DeviceChoice("cuda", f"auto: CUDA GPU {torch.cuda.get_device_name(0)}")
        if mps:
            return DeviceChoice("mps", "auto: Apple MPS")
        return DeviceChoice("cpu", "auto: no CUDA or MPS device found, using the CPU")
    if preference == "cpu":
        return DeviceChoice("cpu", "requested")
    if preference.startswith("cuda"):
        index = int(preference.split(":", 1)[1]) if ":" in preference else 0
        if not cuda or index >= torch.cuda.device_count():
            raise ModelError(
                f"Device {preference} was requested but no such CUDA device is available.",
                "Use --device auto or --device cpu, or check the GPU driver (`radassist info`).",
            )
        return DeviceChoice(preference, "requested")
    if preference == "mps":
        if not mps:
            raise ModelError("Device mps was requested but Apple MPS is not available.", "Use --device auto or cpu.")
        return DeviceChoice("mps", "requested")
    raise ModelError(f"Unknown device {preference!r}.", "Use auto, cpu, cuda, cuda:N or mps.")


@dataclass
class FallbackLog:
    """What happened on the way to a result, in plain words for logs and reports."""

    device: str
    setting: Any = None
    events: list[str] = field(default_factory=list)

    @property
    def fell_back(self) -> bool:
        return bool(self.events)


def run_with_oom_fallback(
    function: Callable[[str, Any], Any], device: str, settings: Sequence[Any] = (None,)
) -> tuple[Any, FallbackLog]:
    """Call ``function(device, setting)`` with each setting (e.g. decreasing window sizes) until one fits.

    On CUDA out-of-memory the cache is freed and the next, smaller setting is tried; when none fits on the
    GPU, the first setting is run on the CPU. Every step is recorded in the returned log.
    """
    import torch

    log = FallbackLog(device)
    for setting in settings:
        try:
            result = function(device, setting)
            log.device, log.setting = device, setting
            return result, log
        except torch.cuda.OutOfMemoryError:
            if device == "cpu":
                raise
            torch.cuda.empty_cache()
            log.events.append(f"out of GPU memory on {device} with setting {setting}")
    log.events.append(f"no setting fits on {device}: running on the CPU instead")
    result = function("cpu", settings[0])
    log.device, log.setting = "cpu", settings[0]
    return result, log
