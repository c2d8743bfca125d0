"""Draw the program's icon: resources/icons/wi-counter.ico (Windows, all sizes) and .png.

    python scripts/make-icon.py      # needs Pillow; the files are committed, run only to change them

A white 工 (work injury) on a blue rounded square with a red cross mark, in the bundled
WenQuanYi Micro Hei, so the drawing is the same on every machine.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
FONT = REPO / "resources" / "fonts" / "wqy-microhei.ttc"
OUT = REPO / "resources" / "icons"
SIZE = 256


def draw() -> Image.Image:
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.rounded_rectangle((8, 8, SIZE - 8, SIZE - 8), radius=48, fill=(22, 93, 170, 255))
    font = ImageFont.truetype(str(FONT), 150, index=0)
    pen.text((SIZE / 2 - 8, SIZE / 2 + 12), "工", font=font, fill=(255, 255, 255, 255), anchor="mm", stroke_width=6, stroke_fill=(255, 255, 255, 255))
    # A small red cross (medical) in the top-right corner.
    cx, cy, arm, width = 200, 56, 28, 14
    pen.rectangle((cx - arm, cy - width // 2, cx + arm, cy + width // 2), fill=(214, 48, 49, 255))
    pen.rectangle((cx - width // 2, cy - arm, cx + width // 2, cy + arm), fill=(214, 48, 49, 255))
    return image


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    image = draw()
    image.save(OUT / "wi-counter.png")
    image.save(OUT / "wi-counter.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    print(OUT / "wi-counter.ico")


if __name__ == "__main__":
    main()
