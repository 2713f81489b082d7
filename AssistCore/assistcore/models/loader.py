"""Building networks from model cards and loading their verified weights, cached per process.

Loading order, so that a damaged or swapped file is never unpickled: sha256 check, then
``torch.load(..., weights_only=True)`` (no pickled code runs), then ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from ..errors import ModelError
from .weights import verify_weights

#: (model id, weights sha256, device) -> network in eval mode
_cache: dict[tuple[str, str, str], Any] = {}
_cache_lock = threading.Lock()


def clear_model_cache() -> None:
    """Forget every loaded network (frees their memory once no caller holds them)."""
    with _cache_lock:
        _cache.clear()


def cached_model_keys() -> list[tuple[str, str, str]]:
    """(model id, weights sha256, device) of the networks loaded in this process."""
    with _cache_lock:
        return list(_cache)


def build_network(network_config: dict) -> Any:
    """Instantiate a MONAI-style config ``{"_target_": ..., **args}`` with MONAI's ConfigParser.

    Short MONAI names (``"SegResNet"``) and full paths (``"monai.networks.nets.SegResNet"``) both work.
    The network has random weights.
    """
    direct = _build_plain_target(network_config)
    if direct is not None:
        return direct
    from monai.bundle import ConfigParser

    try:
        # a copy: the parser resolves items in place and the card must stay as written
        parser = ConfigParser({"network_def": copy.deepcopy(network_config)})
        return parser.get_parsed_content("network_def")
    except Exception as error:  # ConfigParser raises many types; say which config failed
        raise ModelError(
            f"Cannot build network {network_config.get('_target_')!r} from its config ({error}).",
            "Check the card's network section (a MONAI-style config with _target_ and arguments).",
        ) from error


def _is_plain_value(value: Any) -> bool:
    """No MONAI config syntax inside: ``@`` references, ``$`` expressions, ``%`` macros, nested ``_target_``."""
    if isinstance(value, str):
        return not value.startswith(("@", "$", "%"))
    if isinstance(value, dict):
        return "_target_" not in value and all(_is_plain_value(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_is_plain_value(v) for v in value)
    return True


def _build_plain_target(network_config: dict) -> Any | None:
    """Call a full dotted ``_target_`` outside MONAI (torchvision, ours) with plain arguments, else None.

    Importing MONAI costs seconds of a fresh process; a torchvision detector needs none of it. Short names
    and MONAI config syntax still go through MONAI's ConfigParser.
    """
    import importlib

    target = network_config.get("_target_", "")
    arguments = {key: value for key, value in network_config.items() if key != "_target_"}
    if not isinstance(target, str) or "." not in target or target.startswith("monai."):
        return None
    if not all(_is_plain_value(value) for value in arguments.values()):
        return None
    module_name, _, attribute = target.rpartition(".")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
        return factory(**copy.deepcopy(arguments))
    except (ImportError, AttributeError, TypeError, ValueError) as error:
        raise ModelError(
            f"Cannot build network {target!r} from its config ({error}).",
            "Check the card's network section (a MONAI-style config with _target_ and arguments).",
        ) from error


def _unwrap_state_dict(state: Any, path) -> dict:
    """The plain state dict inside what training loops save.

    MONAI bundles save ``models/model.pt`` as a plain state dict (ignite's Checkpoint stores a single
    object's state dict directly), but checkpoints of several objects hold it under ``"model"``; PyTorch
    Lightning uses ``"state_dict"``; DataParallel prefixes every key with ``module.``.
    """
    if isinstance(state, dict):
        for key in ("model", "state_dict", "network"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state:
        raise ModelError(
            f"Weights file {path} does not hold a state dict (found {type(state).__name__}).",
            "Save weights with torch.save(network.state_dict(), path), or set the card's weights format to "
            "torchscript for a TorchScript file.",
        )
    if all(isinstance(key, str) and key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


def load_state_dict_file(path, device: str = "cpu") -> dict:
    """``torch.load`` with ``weights_only=True`` (no pickled code runs), unwrapped to a plain state dict."""
    import torch

    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:
        raise ModelError(
            f"Cannot load weights {path} ({str(error).strip().splitlines()[0] if str(error).strip() else error!r}).",
            "Weights must be a state dict saved with torch.save (tensors only); re-import or retrain the model.",
        ) from error
    return _unwrap_state_dict(state, path)


def network_from_weights(card, device: str) -> Any:
    """Verified weights (state dict into the card's network config, or TorchScript) on ``device``, eval mode."""
    path = verify_weights(card)
    if card.weights_format == "torchscript":
        import torch

        try:
            network = torch.jit.load(str(path), map_location=device)
        except Exception as error:
            raise ModelError(f"Cannot load TorchScript model {path} ({error}).", "Re-export the model.") from error
    else:
        network = _network_with_weights(card.network, path, device, f"the network of model {card.id}")
    return network.eval()


def _network_with_weights(network_config: dict, path, device: str, what: str) -> Any:
    """The network of ``network_config`` with the state dict at ``path`` (strict), on ``device``.

    :raises ModelError: the weights do not fit the architecture (``what`` names it in the message).
    """
    network = build_network(network_config)
    try:
        network.load_state_dict(load_state_dict_file(path, device), strict=True)
    except RuntimeError as error:
        raise ModelError(
            f"Weights {path} do not fit {what} ({str(error).splitlines()[0]}).",
            "The card's network section must describe the architecture the weights were trained with.",
        ) from error
    return network.to(device)


def _onnx_network(card, device: str, component: str | None = None) -> Any | None:
    """The ONNX Runtime network of the card (or ``component``) when it runs on ``device``
    (:meth:`~assistcore.models.card.ModelCard.runtime_file`), else None; inside an OpenGL host a model
    without an ONNX export is refused, since torch must not be imported there."""
    from .onnx_runtime import OnnxNetwork, is_gui_host

    runtime = card.runtime_file(device, component)
    if runtime["format"] == "onnx":
        section = card.data if component is None else card.components[component]
        return OnnxNetwork(card.folder / runtime["file"], device, section["exported_program"])
    if is_gui_host():
        raise ModelError(
            f"Model {card.id} has no ONNX export, and inside 3D Slicer networks run only with ONNX Runtime "
            "(torch's imports can crash a program that draws with OpenGL).",
            f"Export it once from a terminal: `radassist models export {card.id}`, then run again.",
        )
    return None


def verify_model_files(card) -> None:
    """Check every file the card lists (weights, exported program, each component's) against its sha256.

    All of them, not only the one about to run: a damaged ``model.pt`` beside the ``model.onnx`` that runs on
    the CPU means the model folder cannot be trusted, and would fail the day the model runs on a GPU. Each
    file is hashed once per process (:func:`~assistcore.models.weights.verify_file` remembers it).

    :raises ChecksumError: a file differs from its sha256 (nothing was loaded).
    :raises ModelError: a listed file is missing.
    """
    from .weights import verify_components, verify_exported_program

    verify_weights(card)
    verify_exported_program(card)
    verify_components(card)


def load_network(card, device: str = "cpu", cache: bool = True) -> Any:
    """The card's network on ``device`` with its weights, in eval mode.

    On the CPU (and inside an OpenGL host on every device) a card's ONNX export (``model.onnx``, see
    :mod:`.exporting`) runs with ONNX Runtime: the same network without importing torch. Every file the card
    lists is checked against its sha256 before anything is read. With ``cache`` the same object is
    returned for the same model, weights and device, so a second case skips building and loading.

    :param card: a :class:`~assistcore.models.card.ModelCard`.
    :param device: a torch device string ("cpu", "cuda", "cuda:1", "mps"), e.g. from ``select_device``.
    :raises ChecksumError: the weights file differs from the card's sha256 (nothing was loaded).
    :raises ModelError: missing file, weights not fitting the network, unbuildable network config.
    """
    key = (card.id, card.weights_sha256, str(device))
    if cache:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
    verify_model_files(card)
    network = _onnx_network(card, str(device))
    if network is None:
        network = network_from_weights(card, device)
    if cache:
        with _cache_lock:
            network = _cache.setdefault(key, network)  # two threads loading at once share the first
    return network


def load_component_network(card, name: str, device: str = "cpu", cache: bool = True) -> Any:
    """Component ``name`` of the card (``card.components``) on ``device`` with its verified weights, eval mode.

    :raises ModelError: no such component, or weights not fitting its network.
    :raises ChecksumError: the weights differ from the component's sha256.
    """
    from .weights import verify_file

    if name not in card.components:
        raise ModelError(f"Model {card.id} has no component {name!r}.", "Use a model trained for this assistant.")
    entry = card.components[name]
    key = (card.id, entry["weights"]["sha256"], str(device))
    if cache:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
    verify_model_files(card)
    network = _onnx_network(card, str(device), name)
    if network is not None:
        if cache:
            with _cache_lock:
                network = _cache.setdefault(key, network)
        return network
    path = verify_file(card.component_weights_path(name), entry["weights"]["sha256"], card.id, f"Component {name}")
    network = _network_with_weights(entry["network"], path, device, f"component {name} of model {card.id}").eval()
    if cache:
        with _cache_lock:
            network = _cache.setdefault(key, network)
    return network
