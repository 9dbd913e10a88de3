"""Pictures in every format --dataset=folder reads, written by Pillow (not by the code under test),
with the reference pixels Pillow decodes them to; and the broken files a real folder holds."""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image, ImageOps

ORIENTATION = 0x0112


def pattern(height: int = 40, width: int = 56, seed: int = 0) -> np.ndarray:
    """An asymmetric uint8 RGB picture: every flip or turn of it differs from it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // (width - 1), y * 255 // (height - 1),
                      (x * y) % 256], axis=-1).astype(np.uint8)
    image[: height // 4, : width // 3] = rng.integers(0, 256, 3)  # a block in one corner only
    return image


def _bytes(image: Image.Image, fmt: str, **save) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def white_composite(rgba: np.ndarray) -> np.ndarray:
    """Colour over white by alpha, computed in numpy: the reference for transparent pictures."""
    colour, alpha = rgba[..., :-1].astype(np.float64), rgba[..., -1:] / 255.0
    if colour.shape[-1] == 1:
        colour = np.repeat(colour, 3, axis=-1)
    return np.round(colour * alpha + 255.0 * (1 - alpha)).astype(np.uint8)


def formats(seed: int = 0) -> dict[str, tuple[bytes, np.ndarray, int]]:
    """name -> (file bytes, the RGB pixels a viewer shows, tolerance in grey levels)."""
    rgb = pattern(seed=seed)
    image = Image.fromarray(rgb)
    grey = image.convert("L")
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
    rgba = np.dstack([rgb, alpha])
    palette = image.quantize(16)
    out: dict[str, tuple[bytes, np.ndarray, int]] = {}

    def decoded(data: bytes) -> np.ndarray:  # what Pillow makes of the file, as RGB
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    # Lossy formats: TensorFlow and Pillow may use different IDCT/upsampling; a few levels apart.
    for name, fmt, source, save, tolerance in [
        ("baseline.jpg", "JPEG", image, dict(quality=90), 6),
        ("progressive.JPEG", "JPEG", image, dict(quality=90, progressive=True), 6),
        ("grey.jpg", "JPEG", grey, dict(quality=90), 6),
        ("cmyk.jpg", "JPEG", image.convert("CMYK"), dict(quality=95), 8),
        ("lossy.webp", "WEBP", image, dict(quality=90), 12),
    ]:
        data = _bytes(source, fmt, **save)
        out[name] = (data, decoded(data), tolerance)
    for name, fmt, source, save in [
        ("rgb.png", "PNG", image, {}), ("grey.PNG", "PNG", grey, {}),
        ("palette.png", "PNG", palette, {}), ("rgb.bmp", "BMP", image, {}),
        ("palette.bmp", "BMP", palette, {}), ("lossless.webp", "WEBP", image, dict(lossless=True)),
    ]:
        data = _bytes(source, fmt, **save)
        out[name] = (data, decoded(data), 0)
    out["alpha.png"] = (_bytes(Image.fromarray(rgba, "RGBA"), "PNG"), white_composite(rgba), 1)
    grey_alpha = np.dstack([np.asarray(grey), alpha])
    out["grey_alpha.png"] = (_bytes(Image.fromarray(grey_alpha, "LA"), "PNG"),
                             white_composite(grey_alpha), 1)
    out["alpha.webp"] = (_bytes(Image.fromarray(rgba, "RGBA"), "WEBP", lossless=True),
                         white_composite(rgba), 1)
    # 16-bit PNG: TensorFlow keeps the top 8 bits, which is what a viewer shows on an 8-bit screen.
    deep = rgb[..., 0].astype(np.uint16) * 257 + np.arange(rgb.shape[1], dtype=np.uint16)
    out["deep16.png"] = (_bytes(Image.fromarray(deep), "PNG"),
                         np.repeat((deep >> 8).astype(np.uint8)[..., None], 3, axis=-1), 0)
    frames = [palette.convert("RGB"), Image.fromarray(255 - rgb)]
    gif = _bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    out["animated.GIF"] = (gif, decoded(gif), 0)  # Pillow opens on the first frame
    return out


def with_orientation(rgb: np.ndarray, orientation: int) -> tuple[bytes, np.ndarray]:
    """A JPEG storing `rgb` with EXIF orientation tag `orientation`, and what a viewer shows:
    Pillow's exif_transpose of its own decoding."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    data = _bytes(Image.fromarray(rgb), "JPEG", quality=95, exif=exif.tobytes())
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    return data, np.asarray(shown)


BROKEN = {
    # name -> (bytes, the reason the run gives)
    "notes.txt": (b"not a picture", "not a picture"),
    "empty.jpg": (b"", "empty"),
    "text_named.png": (b"hello, I only look like a picture", "not a picture"),
    "scan.tif": (b"II*\x00" + bytes(64), "not a picture"),
}


def truncated_jpeg(seed: int = 0) -> bytes:
    """The first half of a JPEG: right magic bytes, decoding fails."""
    data = _bytes(Image.fromarray(pattern(seed=seed)), "JPEG", quality=90)
    return data[: len(data) // 2]


def write_mixed_folder(root: str, count: int = 48, seed: int = 0,
                       broken: bool = True) -> list[str]:
    """`count` pictures cycling through every format in `formats`, in two levels of subfolders
    (with differently sized pictures), plus the broken files and a hidden file; returns the
    pictures' paths relative to `root`."""
    names = []
    kinds = list(formats(seed).items())
    for i in range(count):
        name, (data, _, _) = kinds[i % len(kinds)]
        stem, extension = os.path.splitext(name)
        relative = os.path.join(f"set{i % 3}", "deeper" if i % 2 else "", f"{i:03d}_{stem}{extension}")
        path = os.path.join(root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        names.append(os.path.normpath(relative).replace(os.sep, "/"))
    if broken:
        for name, (data, _) in BROKEN.items():
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        with open(os.path.join(root, "set0", "truncated.jpg"), "wb") as f:
            f.write(truncated_jpeg(seed))
        with open(os.path.join(root, ".DS_Store"), "wb") as f:
            f.write(b"\x00\x00\x00\x01Bud1")
    return sorted(names)
