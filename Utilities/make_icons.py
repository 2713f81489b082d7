"""Regenerate the module and extension icons (128x128 PNG): `python Utilities/make_icons.py`."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
ICONS = {
    "CRMAssist/Resources/Icons/CRMAssist.png": ("CRM", (178, 34, 52)),
    "SpineAssist/Resources/Icons/SpineAssist.png": ("C2-7", (31, 97, 141)),
    "BrainTumorLabel/Resources/Icons/BrainTumorLabel.png": ("BT", (118, 68, 138)),
    "Resources/Icons/RadAssist.png": ("RA", (30, 30, 30)),
}


def make_icon(text: str, color: tuple[int, int, int], path: Path) -> None:
    image = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle([4, 4, 123, 123], radius=22, fill=(*color, 255))
    draw.rounded_rectangle([14, 14, 113, 113], radius=16, outline=(255, 255, 255, 200), width=3)
    font = ImageFont.load_default(size=44 if len(text) <= 3 else 34)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((128 - (right - left)) / 2 - left, (128 - (bottom - top)) / 2 - top), text, font=font, fill="white")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


if __name__ == "__main__":
    for relative, (label, rgb) in ICONS.items():
        make_icon(label, rgb, ROOT / relative)
