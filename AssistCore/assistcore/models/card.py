"""Model cards: one ``model_card.json`` per model folder, validated against ``schemas/model_card.schema.json``.

The schema holds every rule that JSON Schema can say; :func:`card_problems` adds the few it cannot
(label values unique, weights path inside the model folder, sliding-window roi matching the network's
dimensionality). Both run whenever a card is loaded, so a card that loads is a card the runtime can use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..errors import ModelError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "model_card.schema.json"
CARD_FILE_NAME = "model_card.json"
#: environment variable: "torch" runs the weights with torch on the CPU instead of the ONNX export
CPU_RUNTIME_VARIABLE = "RADASSIST_CPU_RUNTIME"
_HINT = "Fix the card (schema: assistcore/schemas/model_card.schema.json) or re-export the model."
#: how the intended use of a model trained on synthetic phantoms begins (the schema asks for these words)
DEMO_INTENDED_USE = "Demonstration of the pipeline only: trained on synthetic data, not for clinical use. "


def trained_card_header(
    model_id: str, name: str, assistant: str, task: str, description: str, advice: str, synthetic: bool
) -> dict:
    """The opening keys of a card written by one of our ``train`` commands: id, name, this package's version,
    assistant, task, description, authors, the intended use (the demo notice first when ``synthetic``, then
    ``advice``: what to do before relying on the model) and ``synthetic_training_data``."""
    from .. import __version__

    return {
        "id": model_id,
        "name": name,
        "version": __version__,
        "assistant": assistant,
        "task": task,
        "description": description,
        "authors": ["RadAssist contributors"],
        "intended_use": (DEMO_INTENDED_USE if synthetic else "") + advice,
        "synthetic_training_data": synthetic,
    }


def demo_result_note(provenance: dict, models: str = "model") -> str:
    """The note a report carries when a demo model (``provenance["synthetic_demo_model"]``) made it, else "".

    :param models: "model", or "models" for an assistant that runs several networks.
    """
    if not provenance.get("synthetic_demo_model"):
        return ""
    return f"Demo {models} trained on synthetic data: not for clinical use."


@lru_cache(maxsize=1)
def model_card_schema() -> dict:
    """The model card JSON Schema (draft 2020-12) as a dict."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _json_path(parts) -> str:
    return "/".join(str(part) for part in parts) or "(top level)"


def card_problems(data: dict) -> list[tuple[str, str]]:
    """Rules the schema cannot state, as (JSON path, message) pairs; empty when the card is sound.

    Call it on data that already passed the schema.
    """
    problems: list[tuple[str, str]] = []
    seen: dict[int, int] = {}
    for index, label in enumerate(data.get("labels", [])):
        if label["value"] in seen:
            problems.append(
                (f"labels/{index}/value", f"label value {label['value']} is also used by labels/{seen[label['value']]}")
            )
        seen.setdefault(label["value"], index)
    files = [(section, data.get(section, {}).get("file", "")) for section in ("weights", "exported_program")]
    for name, entry in data.get("components", {}).items():
        files += [
            (f"components/{name}/{part}", entry.get(part, {}).get("file", ""))
            for part in ("weights", "exported_program")
        ]
    for section, file_name in files:
        for pure in (PurePosixPath(file_name), PureWindowsPath(file_name)):
            if pure.is_absolute() or pure.drive or ".." in pure.parts:
                problems.append((f"{section}/file", f"{file_name!r} must be a path inside the model folder"))
                break
    inference, network = data.get("inference", {}), data.get("network", {})
    spatial_dims = network.get("spatial_dims")
    if "roi_size" in inference and isinstance(spatial_dims, int) and len(inference["roi_size"]) != spatial_dims:
        problems.append(
            (
                "inference/roi_size",
                f"{inference['roi_size']} has {len(inference['roi_size'])} sizes for a {spatial_dims}D network",
            )
        )
    return problems


def validate_card_data(data: dict, source: str = "model card") -> None:
    """Raise :class:`ModelError` naming ``source`` and the JSON path of the first problem.

    :param data: the parsed card.
    :param source: how to name the card in the message (usually its file path).
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(model_card_schema())
    errors = sorted(validator.iter_errors(data), key=lambda error: [str(part) for part in error.absolute_path])
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        message = first.message
        if list(first.absolute_path) == ["intended_use"] and first.validator == "pattern":
            # the synthetic-data rule; the raw regex would not tell a user what to write
            message = "a model trained on synthetic data must say 'synthetic' and 'not for clinical use'"
        raise ModelError(f"Invalid model card {source} at {_json_path(first.absolute_path)}: {message}{more}.", _HINT)
    problems = card_problems(data)
    if problems:
        where, message = problems[0]
        raise ModelError(f"Invalid model card {source} at {where}: {message}.", _HINT)


@dataclass(frozen=True)
class ModelCard:
    """A validated model card and the folder it lives in (the weights path is relative to it).

    ``data`` is the card as read; the properties are typed views on it.
    """

    data: dict[str, Any]
    folder: Path

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def version(self) -> str:
        return self.data["version"]

    @property
    def assistant(self) -> str:
        """crm | spine | brain_tumor | breast_us | generic"""
        return self.data["assistant"]

    @property
    def intended_use(self) -> str:
        return self.data["intended_use"]

    @property
    def is_synthetic_demo(self) -> bool:
        """True for demo models trained on phantoms (never for clinical use)."""
        return bool(self.data.get("synthetic_training_data"))

    @property
    def network(self) -> dict[str, Any]:
        """The MONAI config (``_target_`` + arguments) that builds the network."""
        return self.data["network"]

    @property
    def input_channels(self) -> list[dict]:
        """The network's input channels in order: {name, role, description?}."""
        return self.data["input_channels"]

    @property
    def input_roles(self) -> list[str]:
        return [channel["role"] for channel in self.input_channels]

    @property
    def preprocessing(self) -> list[dict]:
        return self.data["preprocessing"]

    @property
    def postprocessing(self) -> list[dict]:
        return self.data.get("postprocessing", [])

    @property
    def inference(self) -> dict[str, Any]:
        """{mode, roi_size?, overlap?, sw_batch_size?, tta?}"""
        return self.data["inference"]

    @property
    def labels(self) -> list[dict]:
        """Label dicts as in the card: {value, name, color, snomed, channel?, description?}."""
        return self.data["labels"]

    def label_definitions(self) -> list:
        """The labels as :class:`assistcore.labels.LabelDefinition` (colours as 0..1 RGB)."""
        from ..labels import LabelDefinition

        return [LabelDefinition.from_dict(label) for label in self.labels]

    @property
    def thresholds(self) -> dict[str, float]:
        """Named operating thresholds (a copy; editing it does not change the card)."""
        return dict(self.data.get("operating_thresholds", {}))

    def threshold(self, name: str) -> float:
        """One operating threshold; a missing name is a :class:`ModelError` naming the ones there are."""
        try:
            return float(self.data.get("operating_thresholds", {})[name])
        except KeyError:
            known = ", ".join(sorted(self.thresholds)) or "none"
            raise ModelError(
                f"Model {self.id} has no operating threshold {name!r} (it has: {known}).",
                "Use a model whose card defines it, or pass the threshold explicitly.",
            ) from None

    @property
    def weights_path(self) -> Path:
        """Absolute path of the weights file (the card stores it relative to its folder)."""
        return (self.folder / self.data["weights"]["file"]).resolve()

    @property
    def weights_sha256(self) -> str:
        return self.data["weights"]["sha256"]

    @property
    def exported_program_path(self) -> Path | None:
        """The optional export of the same network and weights for CPU inference (``model.onnx``), or None."""
        entry = self.data.get("exported_program")
        return (self.folder / entry["file"]).resolve() if entry else None

    @property
    def components(self) -> dict[str, dict]:
        """Further networks the assistant uses beside the main one (``{name: {network, weights, ...}}``)."""
        return self.data.get("components", {})

    def component_weights_path(self, name: str) -> Path:
        """Absolute path of component ``name``'s weights file."""
        return (self.folder / self.components[name]["weights"]["file"]).resolve()

    @property
    def weights_format(self) -> str:
        """state_dict | torchscript"""
        return self.data["weights"]["format"]

    @property
    def card_path(self) -> Path:
        return self.folder / CARD_FILE_NAME

    def runtime_file(self, device: str, component: str | None = None) -> dict[str, str]:
        """The file that runs on ``device`` for the main network (or ``component``): its ONNX export on the
        CPU when the card has one (ONNX Runtime, no torch), else its weights (torch).

        :returns: ``{"network", "file", "sha256", "format"}``; ``file`` relative to the card's folder,
            ``format`` is ``onnx`` or the weights format (``state_dict``, ``torchscript``).

        ``RADASSIST_CPU_RUNTIME=torch`` runs the weights with torch on the CPU too (comparisons; never inside
        an OpenGL host).
        """
        from .onnx_runtime import is_gui_host

        section = self.data if component is None else self.components[component]
        program = section.get("exported_program")
        # ONNX exports run on the CPU everywhere, and on every device inside an OpenGL host (3D Slicer);
        # programs of older versions (model.pt2, model.ts) are not run: the weights are
        torch_on_cpu = os.environ.get(CPU_RUNTIME_VARIABLE, "onnx").strip().lower() == "torch" and not is_gui_host()
        if program and program.get("format") == "onnx" and not torch_on_cpu and (str(device) == "cpu" or is_gui_host()):
            entry, file_format = program, "onnx"
        else:
            entry, file_format = section["weights"], section["weights"].get("format", "state_dict")
        return {"network": component or "main", "file": entry["file"], "sha256": entry["sha256"], "format": file_format}

    def provenance(self, device_choice) -> dict[str, Any]:
        """What a result records about the model that made it: id, version, name, demo flag, the card's weights
        sha256, the files that ran on the device (``files_run``, :meth:`runtime_file` of each network: on the
        CPU that is the exported program, not ``weights_sha256``'s file), device and why that device
        (``device_choice`` from :func:`~assistcore.models.device.select_device`)."""
        return {
            "model_id": self.id,
            "model_version": self.version,
            "model_name": self.display_name,
            "synthetic_demo_model": self.is_synthetic_demo,
            "weights_sha256": self.weights_sha256,
            "files_run": [self.runtime_file(device_choice.device, name) for name in (None, *self.components)],
            "device": device_choice.device,
            "device_reason": device_choice.reason,
        }

    @property
    def display_name(self) -> str:
        """Name for menus: demo models say so, every time they are shown."""
        suffix = " (demo model, synthetic data - not for clinical use)" if self.is_synthetic_demo else ""
        return f"{self.name} {self.version}{suffix}"


def image_input_format(channel_names: list[str] | tuple[str, ...], modality: str = "MR") -> dict[str, Any]:
    """A card's MONAI ``network_data_format.inputs.image`` entry: magnitude images, one channel per name
    (in the network's channel order)."""
    return {
        "type": "image",
        "format": "magnitude",
        "modality": modality,
        "num_channels": len(channel_names),
        "channel_def": {str(index): name for index, name in enumerate(channel_names)},
    }


def load_model_card(path: str | os.PathLike[str]) -> ModelCard:
    """Read and validate ``model_card.json`` (or a folder holding one).

    :raises ModelError: the file is missing, not JSON, or breaks the schema; the message names the file
        and the JSON path of the first problem.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CARD_FILE_NAME
    if not path.is_file():
        raise ModelError(f"Model card not found: {path}.", "A model folder must hold model_card.json.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"Model card {path} is not valid JSON ({error}).", _HINT) from error
    if not isinstance(data, dict):
        raise ModelError(f"Model card {path} must hold a JSON object, not {type(data).__name__}.", _HINT)
    validate_card_data(data, str(path))
    return ModelCard(data, path.parent.resolve())
