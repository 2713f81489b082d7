"""Building networks from model cards and loading their verified weights, cached per process."""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ModelError
from .weights import verify_weights

#: (model id, weights sha256, device) -> network in eval mode
_cache: dict[tuple[str, str, str], Any] = {}
_cache_lock = threading.Lock()


def clear_model_cache() -> None:
    with _cache_lock:
        _cache.clear()


def build_network(network_config: dict) -> Any:
    """Instantiate ``{"_target_": ..., **args}`` with MONAI's ConfigParser (short MONAI names work)."""
    from monai.bundle import ConfigParser

    try:
        return ConfigParser({"network_def": network_config}).get_parsed_content("network_def")
    except Exception as error:  # ConfigParser raises many types; say which config failed
        raise ModelError(
            f"Cannot build network {network_config.get('_target_')!r} from its config ({error}).",
            "Check the card's network section (a MONAI-style config with _target_ and arguments).",
        ) from error


def load_state_dict_file(path, device: str = "cpu") -> dict:
    """``torch.load`` with ``weights_only=True`` (no pickled code runs); unwraps {"model": state_dict}."""
    import torch

    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:
        raise ModelError(f"Cannot load weights {path} ({error}).", "Re-import or retrain the model.") from error
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    return state


def load_network(card, device: str = "cpu", cache: bool = True) -> Any:
    """The card's network on ``device`` with its weights, in eval mode.

    The weights are checked against their sha256 before they are read. With ``cache`` the same object is
    returned for the same model, weights and device, so a second case skips loading.
    """
    key = (card.id, card.weights_sha256, str(device))
    if cache:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
    path = verify_weights(card)
    if card.data["weights"]["format"] == "torchscript":
        import torch

        network = torch.jit.load(str(path), map_location=device)
    else:
        network = build_network(card.data["network"])
        try:
            network.load_state_dict(load_state_dict_file(path, device), strict=True)
        except RuntimeError as error:
            raise ModelError(
                f"Weights {path} do not fit the network of model {card.id} ({str(error).splitlines()[0]}).",
                "The card's network section must describe the architecture the weights were trained with.",
            ) from error
        network = network.to(device)
    network.eval()
    if cache:
        with _cache_lock:
            _cache[key] = network
    return network
