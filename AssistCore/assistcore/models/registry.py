"""Where models are found, and importing new ones (folders, zips, MONAI bundles), all offline.

Search order: the bundled ``Resources/Models/`` of the extension (``$RADASSIST_BUNDLED_MODELS`` overrides),
the per-user model folder (``$RADASSIST_USER_MODELS`` overrides the platform default), then every folder in
``$RADASSIST_MODELS_PATH`` (separated by ``os.pathsep``). Each model is a folder ``<location>/<any name>/``
holding ``model_card.json``. When two locations hold the same model id the later one is used (a user's
retrained model replaces the bundled demo), never silently: the entry records what it replaced and
:attr:`ModelRegistry.shadowed` lists the hidden ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_directory
from ..errors import ChecksumError, ModelError
from ..paths import REPOSITORY_ROOT
from .card import CARD_FILE_NAME, ModelCard, load_model_card, validate_card_data
from .weights import sha256_of, verify_components, verify_exported_program, verify_weights

#: Where a model was found, in search order; later sources win over earlier ones.
SOURCES = ("bundled", "user", "env")


def bundled_models_dir() -> Path:
    """``Resources/Models`` of the extension (AssistCore/assistcore -> ../../Resources/Models)."""
    return Path(os.environ.get("RADASSIST_BUNDLED_MODELS") or REPOSITORY_ROOT / "Resources" / "Models")


def user_models_dir() -> Path:
    """The per-user model folder (``$RADASSIST_USER_MODELS``, else platformdirs' user data dir)."""
    configured = os.environ.get("RADASSIST_USER_MODELS")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_data_dir("radassist", appauthor=False)) / "models"


def env_models_dirs() -> list[Path]:
    """The folders named in ``$RADASSIST_MODELS_PATH`` (``os.pathsep``-separated), in order."""
    return [Path(part) for part in os.environ.get("RADASSIST_MODELS_PATH", "").split(os.pathsep) if part.strip()]


@dataclass(frozen=True)
class ModelEntry:
    """A model found by the registry."""

    card: ModelCard
    source: str  # bundled | user | env
    folder: Path
    shadows: str = ""  # "<source>:<folder>" of an entry with the same id that this one replaces


@dataclass(frozen=True)
class VerifyResult:
    """One weights file checked against its card: ``expected``/``actual`` are hex sha256 ("" if unread)."""

    id: str
    ok: bool
    expected: str
    actual: str
    path: Path
    message: str


class ModelRegistry:
    """Model cards found in the search paths (read when constructed; :meth:`refresh` reads them again).

    :param search_paths: (source, folder) pairs in search order; default: bundled, user, then
        ``$RADASSIST_MODELS_PATH``.
    """

    def __init__(self, search_paths: list[tuple[str, Path]] | None = None) -> None:
        if search_paths is None:
            search_paths = [("bundled", bundled_models_dir()), ("user", user_models_dir())]
            search_paths += [("env", path) for path in env_models_dirs()]
        self._locations = [(source, Path(path)) for source, path in search_paths]
        self.refresh()

    @property
    def search_paths(self) -> list[Path]:
        return [path for _, path in self._locations]

    def refresh(self) -> None:
        """Read every card again. Broken cards are skipped and described in :attr:`problems`."""
        entries: dict[str, ModelEntry] = {}
        self.problems: list[str] = []
        self.shadowed: list[ModelEntry] = []
        for source, location in self._locations:
            if not location.is_dir():
                continue
            for card_path in sorted(location.glob(f"*/{CARD_FILE_NAME}")):
                if card_path.parent.name.startswith("."):
                    continue  # staging folders of an import or training in progress, or left by a crash
                try:
                    card = load_model_card(card_path)
                except ModelError as error:  # one broken card must not hide the others
                    self.problems.append(str(error))
                    continue
                previous = entries.get(card.id)
                if previous is not None:
                    self.shadowed.append(previous)
                shadows = f"{previous.source}:{previous.folder}" if previous else ""
                entries[card.id] = ModelEntry(card, source, card_path.parent, shadows)
        self._entries = entries

    def list(self) -> list[ModelEntry]:
        """Models in use, sorted by assistant then id (shadowed duplicates are in :attr:`shadowed`)."""
        return sorted(self._entries.values(), key=lambda entry: (entry.card.assistant, entry.card.id))

    def get(self, model_id: str) -> ModelEntry:
        """:raises ModelError: unknown id; the message lists the known ids."""
        try:
            return self._entries[model_id]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise ModelError(
                f"Unknown model {model_id!r}. Known models: {known}.",
                "List them with `radassist models list`; import new ones with `radassist models import PATH`.",
            ) from None

    def default_for(self, assistant: str, accepts: Callable[[Any], bool] | None = None) -> ModelEntry:
        """The model for an assistant: a site's (env) or user's model before the bundled demo,
        a model trained on real data before a synthetic demo, then the smallest id.

        :param accepts: only cards for which it returns True (e.g. a brain model for extra-axial tumours).
        """
        candidates = [
            entry
            for entry in self._entries.values()
            if entry.card.assistant == assistant and (accepts is None or accepts(entry.card))
        ]
        if not candidates:
            raise ModelError(
                f"No model for the {assistant} assistant in {', '.join(map(str, self.search_paths))}.",
                "Import one with `radassist models import PATH` or train one with the assistant's train command.",
            )
        preference = {"env": 0, "user": 1, "bundled": 2}
        return min(
            candidates,
            key=lambda entry: (preference.get(entry.source, 3), entry.card.is_synthetic_demo, entry.card.id),
        )

    def verify(self, model_id: str | None = None) -> list[VerifyResult]:
        """Check weights against their sha256 (one model, or all); failures are results, not exceptions."""
        entries = [self.get(model_id)] if model_id else self.list()
        results = []
        for entry in entries:
            card = entry.card
            try:
                verify_weights(card)
                verify_exported_program(card)
                verify_components(card)
            except ChecksumError as error:
                # the error names the failing file: the weights or the exported program
                results.append(
                    VerifyResult(
                        card.id,
                        False,
                        getattr(error, "expected", card.weights_sha256),
                        getattr(error, "actual", ""),
                        getattr(error, "path", card.weights_path),
                        str(error),
                    )
                )
            except ModelError as error:
                results.append(VerifyResult(card.id, False, card.weights_sha256, "", card.weights_path, str(error)))
            else:
                results.append(
                    VerifyResult(
                        card.id, True, card.weights_sha256, card.weights_sha256, card.weights_path, "sha256 matches"
                    )
                )
        return results

    def import_model(
        self, path: str | os.PathLike[str], destination: str | os.PathLike[str] | None = None, overwrite: bool = False
    ) -> ModelEntry:
        """Copy a model folder, a .zip of one, or a MONAI bundle (folder or .zip) into the user model folder.

        Works offline. The weights are verified against the card (or, for a MONAI bundle, hashed into a
        new card kept beside the bundle's own files) before anything is written; the model folder
        ``<destination>/<model id>`` then appears whole or not at all.

        :param destination: folder to import into (default: the per-user model folder).
        :param overwrite: replace a model already imported under the same id.
        :raises ModelError: not found, not a model, unsafe zip, id already imported without ``overwrite``.
        :raises ChecksumError: the weights do not match the card.
        """
        path = Path(path)
        if not path.exists():
            raise ModelError(f"Model to import not found: {path}.", "Give a model folder, a .zip, or a MONAI bundle.")
        destination = Path(destination or user_models_dir())
        with tempfile.TemporaryDirectory(prefix="radassist-import-") as scratch:
            if path.is_file():
                folder = _find_model_root(_extract_zip(path, Path(scratch) / path.stem))
            else:
                folder = _find_model_root(path)
            if (folder / CARD_FILE_NAME).is_file():
                card = load_model_card(folder)
                verify_weights(card)
                verify_exported_program(card)
                card_data = card.data
            else:
                card_data = monai_bundle_to_card(folder, source=path)
            target = destination / card_data["id"]
            if target.exists() and not overwrite:
                raise ModelError(
                    f"A model {card_data['id']} already exists in {target}.",
                    "Pass --overwrite (overwrite=True) to replace it.",
                )
            with atomic_directory(target) as staging:
                shutil.copytree(folder, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*.tmp"))
                (staging / CARD_FILE_NAME).write_text(json.dumps(card_data, indent=2) + "\n", encoding="utf-8")
                verify_weights(load_model_card(staging))  # the copy, before it becomes visible
        if destination.resolve() not in {location.resolve() for location in self.search_paths}:
            self._locations.append(("user", destination))
        self.refresh()
        return self.get(card_data["id"])


def _extract_zip(path: Path, scratch: Path) -> Path:
    """Extract ``path`` into ``scratch`` after checking that no member escapes it (zip slip)."""
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is neither a folder nor a zip file.", "Give a model folder or a .zip of one.")
    scratch.mkdir(parents=True, exist_ok=True)
    root = scratch.resolve()
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            name = member.filename
            target = (root / name).resolve()
            unsafe = name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in re.split(r"[/\\]", name)
            if unsafe or (target != root and root not in target.parents):
                raise ModelError(
                    f"Zip {path} holds an unsafe path {name!r} (outside the archive folder); nothing was extracted.",
                    "Re-create the zip from the model folder (`zip -r model.zip MODEL_FOLDER`).",
                )
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise ModelError(
                    f"Zip {path} holds a symbolic link {name!r}; nothing was extracted.",
                    "Re-create the zip with the files themselves.",
                )
        archive.extractall(root)
    return root


def _find_model_root(folder: Path) -> Path:
    """The folder holding model_card.json or configs/metadata.json (the top, or one level down)."""
    candidates = [folder, *sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))]
    for candidate in candidates:
        if (candidate / CARD_FILE_NAME).is_file() or (candidate / "configs" / "metadata.json").is_file():
            return candidate
    raise ModelError(
        f"No model_card.json or MONAI bundle (configs/metadata.json) in {folder}.",
        "Import the folder that holds the model card or the bundle (or a zip of it).",
    )


# ----- MONAI bundles ---------------------------------------------------------------------------------

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

    data_format = metadata.get("network_data_format") or {"inputs": {}, "outputs": {}}
    inputs = next(iter(data_format.get("inputs", {}).values()), {})
    outputs = next(iter(data_format.get("outputs", {}).values()), {})
    input_names = [
        str(inputs.get("channel_def", {}).get(str(i), f"channel{i}")) for i in range(int(inputs.get("num_channels", 1)))
    ]
    output_names = [
        str(outputs.get("channel_def", {}).get(str(i), f"output{i}"))
        for i in range(int(outputs.get("num_channels", 1)))
    ]
    activation = _bundle_activation(inference, str(outputs.get("format", "")))
    if activation == "softmax":
        # one-hot output: the argmax is the label value, and channel 0 is the background (value 0)
        labels = [_label_for(name, index, None) for index, name in enumerate(output_names) if index > 0]
        postprocessing = [{"step": "softmax_argmax"}]
    else:
        labels = [_label_for(name, index + 1, index) for index, name in enumerate(output_names)]
        postprocessing = [{"step": "sigmoid_threshold", "threshold": 0.5, "channels": output_names}]
    network = _plain_network_config(inference, folder)
    inferer = inference.get("inferer", {}) if isinstance(inference.get("inferer"), dict) else {}
    roi_size = inferer.get("roi_size")
    inference_section: dict[str, Any] = {"mode": "whole_volume"}
    if isinstance(roi_size, list) and all(isinstance(size, int) for size in roi_size):
        inference_section = {
            "mode": "sliding_window",
            "roi_size": roi_size,
            "overlap": float(inferer.get("overlap", 0.25)) if isinstance(inferer.get("overlap"), int | float) else 0.25,
            "sw_batch_size": int(inferer.get("sw_batch_size", 1))
            if isinstance(inferer.get("sw_batch_size"), int)
            else 1,
        }
    # MONAI names the bundle folder (and the zip's top folder) after the model: the id; "name" is for people
    name = str(metadata.get("name") or folder.name)
    bundle_id = re.sub(r"[^a-z0-9_.-]+", "_", folder.name.lower()).strip("_.-") or "bundle"
    output_keys = {name.strip().lower() for name in output_names}
    card = {
        "id": bundle_id[:100],
        "name": name,
        "version": str(metadata.get("version", "0")),
        "assistant": "brain_tumor" if output_keys & set(_KNOWN_CHANNELS) else "generic",
        **{
            key: metadata[key]
            for key in (
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
            if key in metadata
        },
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
        "inference": inference_section,
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
