"""Simple drawn pictures of items (the demo shop's images): a silhouette of the category in
the item's colour, with the brand underneath. Small PNGs, made with Pillow."""

import io

from PIL import Image, ImageColor, ImageDraw, ImageFont

SIZE = (240, 300)
# Silhouettes on a 0..100 grid, (x, y) points of one polygon each.
SHAPES: dict[str, tuple[tuple[int, int], ...]] = {
    "dresses": ((38, 10), (62, 10), (66, 35), (88, 90), (12, 90), (34, 35)),
    "sneakers": ((10, 55), (45, 50), (60, 62), (90, 66), (92, 80), (10, 80)),
    "jackets": ((30, 10), (70, 10), (92, 30), (84, 45), (75, 38), (75, 90), (25, 90),
                (25, 38), (16, 45), (8, 30)),
    "jeans": ((28, 10), (72, 10), (78, 90), (56, 90), (50, 40), (44, 90), (22, 90)),
    "tops": ((32, 15), (68, 15), (90, 32), (80, 44), (70, 36), (70, 85), (30, 85), (30, 36),
             (20, 44), (10, 32)),
    "bags": ((15, 40), (85, 40), (90, 88), (10, 88)),
    "boots": ((35, 10), (60, 10), (60, 62), (88, 70), (88, 88), (35, 88)),
    "skirts": ((32, 20), (68, 20), (86, 82), (14, 82)),
}  # fmt: skip
_DEFAULT_SHAPE = ((20, 20), (80, 20), (80, 80), (20, 80))


def _colour(name: str) -> tuple[int, int, int]:
    try:
        return ImageColor.getrgb(name)[:3]
    except ValueError:
        return (128, 128, 128)


def draw_item_picture(*, category: str, colour: str, brand: str) -> bytes:
    """A PNG of the category's silhouette in `colour`, outlined, with `brand` below it."""
    image = Image.new("RGB", SIZE, (246, 244, 240))
    draw = ImageDraw.Draw(image)
    width, height = SIZE
    box = (width, height - 60)
    shape = SHAPES.get(category.lower(), _DEFAULT_SHAPE)
    points = [(x * box[0] / 100, 10 + y * box[1] / 100) for x, y in shape]
    draw.polygon(points, fill=_colour(colour), outline=(40, 40, 40), width=3)
    if category.lower() == "bags":
        draw.arc((width * 0.3, 40, width * 0.7, 140), 180, 360, fill=(40, 40, 40), width=6)
    font = ImageFont.load_default(size=22)
    text_width = draw.textlength(brand, font=font)
    draw.text(((width - text_width) / 2, height - 42), brand, fill=(30, 30, 30), font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
