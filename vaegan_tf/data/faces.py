"""The synthetic demo faces, drawn: a face with CelebA's geometry and a subset of its attributes.

178x218 RGB images with the face where CelebA's aligned crops put it (eyes near row 111, mouth
near row 150); synthetic.py writes them in CelebA's on-disk layout. Everything is drawn from the
generator it is given, so a face is a pure function of its seed.
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 178, 218  # CelebA's aligned images
EYE_Y = -7.0  # the eyes' height in face coordinates (the pen's centre is the head's)

# A subset of CelebA's 40 names, in CelebA's (alphabetical) order.
ATTRIBUTE_NAMES = ("Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Eyeglasses", "Male",
                   "Mouth_Slightly_Open", "No_Beard", "Pale_Skin", "Smiling", "Wearing_Hat")

_SUPERSAMPLE = 2  # drawn at 2x and box-filtered down: cheap anti-aliasing for PIL's hard edges
_FACE_CENTRE = (89.0, 119.0)  # image (x, y) of the head ellipse's centre before pose jitter
_HAIR_COLOURS = {  # mean RGB; "red" is the unlabelled fourth colour
    "black": (28, 22, 20), "blond": (222, 190, 120), "brown": (100, 62, 34), "red": (150, 64, 32)}


def sample_attributes(rng: np.random.Generator) -> dict[str, bool]:
    """Draws one face's attributes; independent except hair colour (one of four) and beards."""
    # Every draw happens unconditionally so the stream of random numbers never depends on values.
    u = rng.random(9)
    hair = int(rng.choice(4, p=[0.3, 0.25, 0.25, 0.2]))
    male = bool(u[3] < 0.45)
    return {
        "Bangs": bool(u[0] < 0.35),
        "Black_Hair": hair == 0,
        "Blond_Hair": hair == 1,
        "Brown_Hair": hair == 2,
        "Eyeglasses": bool(u[1] < 0.3),
        "Male": male,
        "Mouth_Slightly_Open": bool(u[2] < 0.45),
        "No_Beard": not (male and u[4] < 0.55),  # only men grow beards, as in CelebA
        "Pale_Skin": bool(u[5] < 0.25),
        "Smiling": bool(u[6] < 0.5),
        "Wearing_Hat": bool(u[7] < 0.25),
    }


class _Pen:
    """Draws shapes given in face coordinates (pixels, origin at the head's centre, y down)."""

    def __init__(self, image: Image.Image, centre: tuple[float, float], scale: float, angle: float):
        self.draw = ImageDraw.Draw(image)
        c, s = math.cos(angle), math.sin(angle)
        self.scale = scale * _SUPERSAMPLE
        self.matrix = np.array([[c, -s], [s, c]]) * self.scale
        self.offset = np.array(centre) * _SUPERSAMPLE

    def _xy(self, points: np.ndarray) -> list[float]:
        return (points @ self.matrix.T + self.offset).ravel().tolist()

    def polygon(self, points: np.ndarray, fill: tuple[int, ...]) -> None:
        self.draw.polygon(self._xy(points), fill=fill)

    def line(self, points: np.ndarray, fill: tuple[int, ...], width: float) -> None:
        self.draw.line(self._xy(points), fill=fill, width=max(1, round(width * self.scale)),
                       joint="curve")


def _ellipse(cx: float, cy: float, rx: float, ry: float, t0: float = 0.0,
             t1: float = 2 * math.pi, n: int = 40) -> np.ndarray:
    t = np.linspace(t0, t1, n, endpoint=t1 - t0 < 2 * math.pi)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _cap(rx: float, ry: float, h: float, cy: float = 0.0, n: int = 32) -> np.ndarray:
    """The part of an ellipse above the horizontal line y = h (h above its centre)."""
    a = math.asin(min(1.0, max(-1.0, (cy - h) / ry)))
    return _ellipse(0.0, cy, rx, ry, math.pi + a, 2 * math.pi - a, n)


def _curve(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([x, y], axis=1)


def _shade(colour: np.ndarray, factor: float) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.asarray(colour) * factor, 0, 255))


def _random_hue_colour(rng: np.random.Generator, s: tuple[float, float],
                       v: tuple[float, float]) -> np.ndarray:
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*s), rng.uniform(*v))
    return np.array(rgb) * 255


def _background(rng: np.random.Generator) -> Image.Image:
    """A linear gradient between two random colours in a random direction."""
    c0 = _random_hue_colour(rng, (0.0, 0.6), (0.25, 0.95))
    c1 = _random_hue_colour(rng, (0.0, 0.6), (0.25, 0.95))
    phi = rng.uniform(0, 2 * math.pi)
    # Computed on a coarse grid and stretched, since bilinear resizing keeps a linear ramp linear;
    # the last, nearest-neighbour step is undone exactly by the final box-filter reduction.
    gw, gh = 9, 11
    t = np.cos(phi) * np.arange(gw)[None, :] / gw + np.sin(phi) * np.arange(gh)[:, None] / gh
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    pixels = c0 + t[..., None] * (c1 - c0)
    small = Image.fromarray(pixels.round().astype(np.uint8), "RGB")
    full = small.resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR)
    return full.resize((WIDTH * _SUPERSAMPLE, HEIGHT * _SUPERSAMPLE), Image.Resampling.NEAREST)


def _skin(rng: np.random.Generator, pale: bool) -> np.ndarray:
    t, noise = rng.random(), rng.uniform(-6, 6, 3)
    if pale:  # a narrow band brighter than every non-pale tone, so the label is learnable
        return np.array([246, 226, 214]) + noise
    light, dark = np.array([222, 178, 142]), np.array([104, 68, 44])
    return light + t * (dark - light) + noise


@dataclasses.dataclass
class _Face:
    """The shape and colour parameters of one face, drawn from its generator in a fixed order."""

    male: bool
    rx: float
    ry: float
    yaw: float
    skin: np.ndarray
    hair_name: str
    hair: np.ndarray
    hair_volume: float
    hair_length: float
    jaw: float
    bangs_bottom: float
    bangs_tilt: float
    beard_shade: float
    beard_top: float
    mouth_gap: float
    frame: np.ndarray
    hat: np.ndarray
    brim_y: float
    crown: float
    brimmed: bool


def _parameters(rng: np.random.Generator, a: Mapping[str, bool]) -> _Face:
    male = a["Male"]
    rx = rng.uniform(36, 40) + (2.0 if male else 0.0)
    ry = rng.uniform(47, 53)
    yaw = rng.uniform(-3.5, 3.5)  # inner features slide sideways: a cheap turn of the head
    skin = _skin(rng, a["Pale_Skin"])
    hair_name = ("black" if a["Black_Hair"] else "blond" if a["Blond_Hair"]
                 else "brown" if a["Brown_Hair"] else "red")
    hair = np.array(_HAIR_COLOURS[hair_name]) * rng.uniform(0.85, 1.1) + rng.uniform(-8, 8, 3)
    hair_volume = rng.uniform(3, 8)
    # Parameters of optional features are drawn whether or not the feature is shown, so toggling
    # one attribute for the same generator state changes only that attribute's part of the face.
    hair_length = rng.uniform(55, 85)
    jaw = rng.uniform(0.1, 0.18) if male else rng.uniform(-0.06, 0.02)
    bangs_bottom, bangs_tilt = -ry * rng.uniform(0.36, 0.42), rng.uniform(-4, 4)
    beard_shade, beard_top = rng.uniform(0.6, 0.85), rng.uniform(8, 16)
    mouth_gap = rng.uniform(4, 6.5)
    frame = _random_hue_colour(rng, (0.0, 0.6), (0.05, 0.3))
    hat = _random_hue_colour(rng, (0.45, 0.95), (0.3, 0.9))
    brim_y, crown = -ry * rng.uniform(0.47, 0.55), rng.uniform(8, 14)
    brimmed = rng.random() < 0.6  # otherwise a beanie with a folded band
    return _Face(male, rx, ry, yaw, skin, hair_name, hair, hair_volume, hair_length, jaw,
                 bangs_bottom, bangs_tilt, beard_shade, beard_top, mouth_gap, frame, hat, brim_y,
                 crown, brimmed)


def _body(pen: _Pen, f: _Face, rng: np.random.Generator) -> None:
    """Clothes, then long hair falling behind the neck, then neck and ears in front of it."""
    clothes = _shade(_random_hue_colour(rng, (0.2, 0.9), (0.15, 0.9)), 1.0)
    pen.polygon(_ellipse(0, 122, 84 if f.male else 76, 50), clothes)
    rx, ry, volume = f.rx, f.ry, f.hair_volume
    if f.male:
        pen.polygon(_cap(rx + volume, ry * 0.9 + volume, -2, cy=-2), _shade(f.hair, 1.0))
    else:
        arc = _cap(rx + volume + 3, ry + volume, 0.0)
        # The arc runs left to right over the top; close it down the right side and back.
        sides = np.array([[rx + volume + 7, f.hair_length], [-(rx + volume + 7), f.hair_length]])
        pen.polygon(np.concatenate([arc, sides]), _shade(f.hair, 1.0))
    pen.polygon(np.array([[-15, 25], [15, 25], [17, 90], [-17, 90]]), _shade(f.skin, 0.82))
    pen.polygon(np.array([[-17, 78], [17, 78], [0, 96]]), _shade(f.skin, 0.82))
    for side in (-1, 1):
        pen.polygon(_ellipse(side * (rx - 1), -3, 5, 10, n=16), _shade(f.skin, 0.9))


def _head(pen: _Pen, f: _Face, a: Mapping[str, bool], rng: np.random.Generator) -> None:
    """The head, an ellipse whose lower half widens for a broader (male) or narrows for a finer
    jaw; hair above the hairline, bangs hanging from it; a beard over the lower face."""
    rx, ry = f.rx, f.ry
    t = np.linspace(0, 2 * math.pi, 64, endpoint=False)
    widen = 1 + f.jaw * np.clip(np.sin(t), 0, None)
    head = _curve(rx * np.cos(t) * widen, ry * np.sin(t))
    pen.polygon(head, _shade(f.skin, 1.0))
    hairline = -ry * rng.uniform(0.58, 0.68)
    pen.polygon(_cap(rx + 1.5, ry + 1.5, hairline), _shade(f.hair, 1.0))
    if a["Bangs"]:
        arc = _cap(rx + 1.5, ry + 1.5, f.bangs_bottom)
        xs = np.linspace(arc[-1, 0], arc[0, 0], 9)
        ys = f.bangs_bottom + f.bangs_tilt * xs / rx - 2.5 * (np.arange(9) % 2)  # ragged fringe
        pen.polygon(np.concatenate([arc, _curve(xs, ys)]), _shade(f.hair, 0.95))
    if not a["No_Beard"]:  # the mouth is drawn on top of it
        # The outline's points below the top form one arc (sin t > 0); the polygon closes across.
        pen.polygon(head[head[:, 1] > f.beard_top] * 1.02, _shade(f.hair, f.beard_shade))


def _eyes_and_nose(pen: _Pen, f: _Face, rng: np.random.Generator) -> float:
    """Eyes, brows and nose; returns the eyes' distance from the centre line."""
    ex, ey = rng.uniform(17, 19.5), EYE_Y
    iris = _random_hue_colour(rng, (0.3, 0.8), (0.2, 0.6))
    brow = _shade(f.hair, 0.55 if f.hair_name != "black" else 1.0)
    gaze = rng.uniform(-1.5, 1.5)
    arch = rng.uniform(1, 3.5)
    for side in (-1, 1):
        x = side * ex + f.yaw
        pen.polygon(_ellipse(x, ey, 7, 3.6, n=24), (238, 236, 232))
        pen.polygon(_ellipse(x + gaze, ey, 3.1, 3.1, n=16), _shade(iris, 1.0))
        pen.polygon(_ellipse(x + gaze, ey, 1.4, 1.4, n=12), (10, 10, 12))
        pen.line(_ellipse(x, ey, 7.3, 3.9, math.pi, 2 * math.pi, 12), _shade(f.skin, 0.45), 1.1)
        bx = np.linspace(-8, 8, 7)
        by = ey - 9 - arch * (1 - (bx / 8) ** 2)
        pen.line(_curve(x + bx, by), brow, 3.2 if f.male else 2.3)
    n = 1.5 * f.yaw
    pen.line(np.array([[n - 1, -3], [n - 3, 12], [n + 1, 15]]), _shade(f.skin, 0.75), 1.6)
    for side in (-1, 1):
        pen.polygon(_ellipse(n + side * 4, 15, 2, 1.1, n=10), _shade(f.skin, 0.5))
    return ex


def _mouth(pen: _Pen, f: _Face, a: Mapping[str, bool], rng: np.random.Generator) -> None:
    """Corners lift when smiling; an open mouth shows a dark gap (and teeth when smiling)."""
    my, w = rng.uniform(28, 31), rng.uniform(10, 12) + (2.5 if a["Smiling"] else 0.0)
    lift = rng.uniform(3.5, 5.5) if a["Smiling"] else rng.uniform(-2.5, 0.5)
    xs = np.linspace(-w, w, 15)
    upper = my - lift * (xs / w) ** 2 + lift / 3
    lips = (f.skin * np.array([0.8, 0.5, 0.5]) + np.array([40, 0, 0])).clip(0, 255)
    mx = xs + f.yaw
    if a["Mouth_Slightly_Open"]:
        lower = upper + f.mouth_gap * (1 - (xs / w) ** 2)
        pen.polygon(np.concatenate([_curve(mx, upper), _curve(mx, lower)[::-1]]), (58, 18, 24))
        if a["Smiling"]:
            teeth = upper + 0.45 * (lower - upper)
            inner = np.abs(xs) < 0.8 * w
            pen.polygon(np.concatenate([_curve(mx[inner], upper[inner]),
                                        _curve(mx[inner], teeth[inner])[::-1]]), (236, 232, 220))
        pen.line(_curve(mx, lower + 0.8), _shade(lips, 1.0), 2.4)
        pen.line(_curve(mx, upper - 0.6), _shade(lips, 0.9), 2.0)
    else:
        pen.line(_curve(mx[2:-2], upper[2:-2] + 2.2), _shade(lips, 1.05), 2.6)
        pen.line(_curve(mx, upper), _shade(lips, 0.7), 1.6)


def _glasses(pen: _Pen, f: _Face, ex: float) -> None:
    frame, ey = _shade(f.frame, 1.0), EYE_Y
    for side in (-1, 1):
        x = side * ex + f.yaw
        pen.line(_ellipse(x, ey, 10.5, 8, n=28)[np.r_[0:28, 0]], frame, 2.0)
        pen.line(np.array([[x + side * 10.5, ey - 1], [side * (f.rx - 1), ey - 3]]), frame, 1.8)
    pen.line(np.array([[f.yaw - ex + 10.5, ey - 2], [f.yaw + ex - 10.5, ey - 2]]), frame, 1.8)


def _hat(pen: _Pen, f: _Face) -> None:
    rx, brim_y = f.rx, f.brim_y
    pen.polygon(_cap(rx + 6, f.ry + f.hair_volume + f.crown, brim_y), _shade(f.hat, 1.0))
    if f.brimmed:
        pen.polygon(_ellipse(0, brim_y, rx + 15, 4.5, n=32), _shade(f.hat, 0.8))
    else:
        pen.polygon(np.array([[-(rx + 6), brim_y - 8], [rx + 6, brim_y - 8], [rx + 6, brim_y],
                              [-(rx + 6), brim_y]]), _shade(f.hat, 0.8))


def draw_face(rng: np.random.Generator, attributes: Mapping[str, bool]) -> Image.Image:
    """Draws one 178x218 RGB face showing `attributes`; all other variation comes from `rng`.

    The same generator state with one attribute toggled gives the same face with only that part
    changed (Male aside, which reshapes the jaw and hair). The parts are drawn back to front.
    """
    image = _background(rng)
    centre = (_FACE_CENTRE[0] + rng.uniform(-5, 5), _FACE_CENTRE[1] + rng.uniform(-4, 4))
    pen = _Pen(image, centre, rng.uniform(0.92, 1.08), math.radians(rng.uniform(-8, 8)))
    face = _parameters(rng, attributes)
    _body(pen, face, rng)
    _head(pen, face, attributes, rng)
    ex = _eyes_and_nose(pen, face, rng)
    _mouth(pen, face, attributes, rng)
    if attributes["Eyeglasses"]:
        _glasses(pen, face, ex)
    if attributes["Wearing_Hat"]:
        _hat(pen, face)
    return image.reduce(_SUPERSAMPLE)
