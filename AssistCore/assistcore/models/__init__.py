"""The in-process model runtime: model cards, registry, checksums, device policy, loading, runner.

Nothing here imports torch at module level; the functions that need it import it. The names below are
importable from ``assistcore.models`` directly and load their submodule on first use::

    from assistcore.models import ModelRegistry, load_network, select_device
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelCard": "card",
    "load_model_card": "card",
    "validate_card_data": "card",
    "ModelRegistry": "registry",
    "ModelEntry": "registry",
    "VerifyResult": "registry",
    "sha256_of": "weights",
    "verify_weights": "weights",
    "DeviceChoice": "device",
    "FallbackLog": "device",
    "select_device": "device",
    "run_with_oom_fallback": "device",
    "load_network": "loader",
    "clear_model_cache": "loader",
    "CancelToken": "runner",
    "ProgressEvent": "runner",
    "ProgressReporter": "runner",
    "RunHandle": "runner",
    "start_in_thread": "runner",
    "sliding_window_inference_with_progress": "runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
