"""Model cards: one JSON file per model, validated against ``schemas/model_card.schema.json``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ModelError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "model_card.schema.json"
CARD_FILE_NAME = "model_card.json"


@lru_cache(maxsize=1)
def model_card_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_card_data(data: dict, source: str = "model card") -> None:
    """Raise :class:`ModelError` naming ``source`` and the JSON path of the first schema violation."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(model_card_schema())
    errors = sorted(validator.iter_errors(data), key=lambda error: list(error.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(part) for part in first.absolute_path) or "(top level)"
        raise ModelError(
            f"Invalid model card {source} at {where}: {first.message}"
            + (f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else "")
            + ".",
            "Fix the card (schema: assistcore/schemas/model_card.schema.json) or re-export the model.",
        )


@dataclass(frozen=True)
class ModelCard:
    """A validated model card and the folder it lives in (weights paths are relative to it)."""

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
        return self.data["assistant"]

    @property
    def is_synthetic_demo(self) -> bool:
        return bool(self.data.get("synthetic_training_data"))

    @property
    def labels(self) -> list[dict]:
        return self.data["labels"]

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self.data.get("operating_thresholds", {}))

    @property
    def input_channels(self) -> list[dict]:
        return self.data["input_channels"]

    @property
    def weights_path(self) -> Path:
        return self.folder / self.data["weights"]["file"]

    @property
    def weights_sha256(self) -> str:
        return self.data["weights"]["sha256"]

    @property
    def display_name(self) -> str:
        """Name for menus: demo models say so, every time they are shown."""
        suffix = " (demo model, synthetic data - not for clinical use)" if self.is_synthetic_demo else ""
        return f"{self.name} {self.version}{suffix}"


def load_model_card(path: str | os.PathLike[str]) -> ModelCard:
    """Read and validate ``model_card.json`` (or a folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / CARD_FILE_NAME
    if not path.is_file():
        raise ModelError(f"Model card not found: {path}.", "A model folder must hold model_card.json.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"Model card {path} is not valid JSON ({error}).") from error
    validate_card_data(data, str(path))
    return ModelCard(data, path.parent)
