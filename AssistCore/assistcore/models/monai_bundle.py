"""Importing a MONAI bundle as it is: a RadAssist model card written from the bundle's metadata and inference
configs (channels, labels with codes and colours, activation, sliding-window settings, weights' sha256)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .card import validate_card_data
from .weights import sha256_of

_NEOPLASM_CATEGORY = {"code": "49755003", "scheme": "SCT", "meaning": "Morphologically Altered Structure"}
_TISSUE = {"code": "85756007", "scheme": "SCT", "meaning": "Tissue"}

#: Channel names of BraTS-style bundles (short and long) -> display name, colour, SNOMED type, modifier
_KNOWN_CHANNELS: dict[str, tuple[str, str, dict, dict | None]] = {}
for _names, _display, _color, _modifier in (
    (("tc", "tumor core", "tumour core"), "Tumor core", "#ff0000", None),
    (("wt", "whole tumor", "whole tumour"), "Whole tumor", "#ffff00", None),
    (
        ("et", "enhancing tumor", "enhancing tumour"),
        "Enhancing tumor",
        "#a020f0",
        {"code": "255386008", "scheme": "SCT", "meaning": "Enhancing"},
    ),
):
    for _name in _names:
        _KNOWN_CHANNELS[_name] = (
            _display,
            _color,
            {"code": "108369006", "scheme": "SCT", "meaning": "Neoplasm"},
            _modifier,
        )

#: Colours for channels the table above does not know (Slicer-like, distinct)
_PALETTE = ("#80ae80", "#f1d691", "#b17a65", "#6fb8d2", "#d8654f", "#dd8220", "#90ee90", "#c0a060")


def _read_bundle_config(folder: Path, stem: str) -> dict:
    """configs/<stem>.json or .yaml as a dict ({} when the bundle has neither)."""
    for suffix in (".json", ".yaml", ".yml"):
        path = folder / "configs" / f"{stem}{suffix}"
        if path.is_file():
            try:
                if suffix == ".json":
                    return json.loads(path.read_text(encoding="utf-8"))
                import yaml

                return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except Exception as error:
                raise ModelError(f"Cannot read MONAI bundle config {path} ({error}).") from error
    return {}


def _plain_network_config(inference: dict, folder: Path) -> dict:
    """``network_def`` with its ``@id`` references resolved to values, as plain JSON.

    Expressions (``$...``) are not evaluated: importing must not run code from the bundle.
    """
    from monai.bundle import ConfigParser
    from monai.bundle.config_item import ConfigComponent, ConfigExpression

    try:
        parsed = ConfigParser(inference).get_parsed_content("network_def", instantiate=False, eval_expr=False)
    except Exception as error:
        raise ModelError(
            f"MONAI bundle {folder}: cannot resolve network_def in its inference config ({error})."
        ) from error

    def plain(value: Any, where: str) -> Any:
        if isinstance(value, ConfigComponent):
            return plain(value.get_config(), where)
        if isinstance(value, ConfigExpression) or (isinstance(value, str) and value.startswith("$")):
            text = value.get_config() if isinstance(value, ConfigExpression) else value
            raise ModelError(
                f"MONAI bundle {folder}: network_def/{where} is a Python expression ({text!r}).",
                "Only networks whose arguments are plain values can be imported; replace the expression by its "
                "value in configs/inference.json.",
            )
        if isinstance(value, dict):
            return {str(key): plain(item, f"{where}/{key}".strip("/")) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [plain(item, f"{where}/{index}".strip("/")) for index, item in enumerate(value)]
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise ModelError(f"MONAI bundle {folder}: network_def/{where} is not a plain value ({value!r}).")

    return plain(parsed, "")


def _bundle_activation(inference: dict, output_format: str) -> str:
    """sigmoid | softmax: from the bundle's Activations(d) transform, else from the output format."""
    text = json.dumps(inference.get("postprocessing", {}))
    if re.search(r'"softmax"\s*:\s*true', text):
        return "softmax"
    if re.search(r'"sigmoid"\s*:\s*true', text):
        return "sigmoid"
    # MONAI spec: "labels" = one-hot, argmax decides; other formats are independent channels
    return "softmax" if output_format == "labels" else "sigmoid"


def _label_for(name: str, value: int, channel: int | None) -> dict:
    known = _KNOWN_CHANNELS.get(name.strip().lower())
    if known:
        display, color, type_code, modifier = known
        snomed = {"category": _NEOPLASM_CATEGORY, "type": type_code}
        if modifier:
            snomed["modifier"] = modifier
    else:
        # names the table does not know get a generic code; the user can edit the card
        display, color, snomed = name, _PALETTE[(value - 1) % len(_PALETTE)], {"category": _TISSUE, "type": _TISSUE}
    label = {"value": value, "name": display, "color": color, "snomed": json.loads(json.dumps(snomed))}
    if channel is not None:
        label["channel"] = channel
    return label


def monai_bundle_to_card(folder: Path, source: str | os.PathLike[str] | None = None) -> dict:
    """A RadAssist card for a MONAI bundle folder (configs/metadata.json, configs/inference.json with
    ``network_def``, models/model.pt or models/model.ts), validated against the schema.

    Input channels come from ``network_data_format.inputs`` (channel_def), labels from the outputs'
    channel_def: one label per channel for independent (sigmoid) channels, and label value = channel
    index without the background channel for one-hot (softmax) outputs.

    :param source: the path the user gave (recorded in the card's training section).
    """
    folder = Path(folder)
    metadata, inference, weights = _bundle_parts(folder)
    data_format = metadata.get("network_data_format") or {"inputs": {}, "outputs": {}}
    input_names = _channel_names(data_format, "inputs", "channel")
    output_names = _channel_names(data_format, "outputs", "output")
    outputs = next(iter(data_format.get("outputs", {}).values()), {})
    activation = _bundle_activation(inference, str(outputs.get("format", "")))
    if activation == "softmax":
        # one-hot output: the argmax is the label value, and channel 0 is the background (value 0)
        labels = [_label_for(name, index, None) for index, name in enumerate(output_names) if index > 0]
        postprocessing = [{"step": "softmax_argmax"}]
    else:
        labels = [_label_for(name, index + 1, index) for index, name in enumerate(output_names)]
        postprocessing = [{"step": "sigmoid_threshold", "threshold": 0.5, "channels": output_names}]
    network = _plain_network_config(inference, folder)
    # MONAI names the bundle folder (and the zip's top folder) after the model: the id; "name" is for people
    name = str(metadata.get("name") or folder.name)
    bundle_id = re.sub(r"[^a-z0-9_.-]+", "_", folder.name.lower()).strip("_.-") or "bundle"
    output_keys = {name.strip().lower() for name in output_names}
    card = {
        "id": bundle_id[:100],
        "name": name,
        "version": str(metadata.get("version", "0")),
        "assistant": "brain_tumor" if output_keys & set(_KNOWN_CHANNELS) else "generic",
        **{key: metadata[key] for key in _COPIED_METADATA_KEYS if key in metadata},
        "task": str(metadata.get("task", "")),
        "description": str(metadata.get("description", "")),
        "authors": metadata.get("authors", "unknown"),
        "intended_use": str(metadata.get("intended_use") or "Imported MONAI bundle; see its documentation (docs/)."),
        "synthetic_training_data": False,
        "network_data_format": data_format,
        "network": network,
        "input_channels": [
            {"name": channel, "role": re.sub(r"[^a-z0-9]+", "_", channel.lower()).strip("_") or f"channel{index}"}
            for index, channel in enumerate(input_names)
        ],
        "preprocessing": [{"step": "monai_bundle", "config": "configs/inference.json"}],
        "postprocessing": postprocessing,
        "inference": _inference_section(inference),
        "labels": labels,
        "weights": {
            "file": weights.relative_to(folder).as_posix(),
            "sha256": sha256_of(weights),
            "format": "torchscript" if weights.suffix == ".ts" else "state_dict",
            "size_bytes": weights.stat().st_size,
        },
        "training": {"command": "imported MONAI bundle (trained elsewhere)", "source": str(source or folder)},
        "validation": [
            {"dataset": "as reported by the bundle (metadata.json eval_metrics)", "metric": key, "value": float(value)}
            for key, value in metadata.get("eval_metrics", {}).items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        ],
    }
    validate_card_data(card, f"converted from MONAI bundle {folder}")
    return card


#: metadata.json keys of the MONAI bundle specification copied into the card as they are
_COPIED_METADATA_KEYS = (
    "changelog",
    "monai_version",
    "pytorch_version",
    "numpy_version",
    "required_packages_version",
    "optional_packages_version",
    "copyright",
    "data_source",
    "data_type",
    "image_classes",
    "label_classes",
    "pred_classes",
    "eval_metrics",
    "references",
)


def _bundle_parts(folder: Path) -> tuple[dict, dict, Path]:
    """The bundle's metadata and inference configs and its weights file; a ModelError names what is missing."""
    metadata = _read_bundle_config(folder, "metadata")
    if not metadata:
        raise ModelError(f"MONAI bundle {folder} has no readable configs/metadata.json.")
    inference = _read_bundle_config(folder, "inference")
    if "network_def" not in inference:
        raise ModelError(
            f"MONAI bundle {folder} has no network_def in configs/inference.json.",
            "Only bundles whose network can be built from their config can be imported.",
        )
    weights = next(
        (folder / "models" / name for name in ("model.pt", "model.ts") if (folder / "models" / name).is_file()), None
    )
    if weights is None:
        raise ModelError(f"MONAI bundle {folder} has no models/model.pt or models/model.ts.")
    return metadata, inference, weights


def _channel_names(data_format: dict, direction: str, fallback: str) -> list[str]:
    """Channel names of the first entry of ``network_data_format[direction]`` ("inputs" or "outputs") from its
    ``channel_def``, ``<fallback><index>`` where it names none."""
    section = next(iter(data_format.get(direction, {}).values()), {})
    names = section.get("channel_def", {})
    return [str(names.get(str(i), f"{fallback}{i}")) for i in range(int(section.get("num_channels", 1)))]


def _inference_section(inference: dict) -> dict[str, Any]:
    """The card's inference section from the bundle's inferer: sliding windows when it gives a roi_size."""
    inferer = inference.get("inferer", {}) if isinstance(inference.get("inferer"), dict) else {}
    roi_size = inferer.get("roi_size")
    if not (isinstance(roi_size, list) and all(isinstance(size, int) for size in roi_size)):
        return {"mode": "whole_volume"}
    overlap, batch = inferer.get("overlap"), inferer.get("sw_batch_size")
    return {
        "mode": "sliding_window",
        "roi_size": roi_size,
        "overlap": float(inferer.get("overlap", 0.25)) if isinstance(overlap, int | float) else 0.25,
        "sw_batch_size": int(inferer.get("sw_batch_size", 1)) if isinstance(batch, int) else 1,
    }
