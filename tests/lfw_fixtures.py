"""Generated LFW folders in the real layout, with an attribute file in Kumar et al.'s format."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

# The 73 columns of lfw_attributes.txt, in the file's order.
LFW_ATTRIBUTES = (
    "Male", "Asian", "White", "Black", "Baby", "Child", "Youth", "Middle Aged", "Senior",
    "Black Hair", "Blond Hair", "Brown Hair", "Bald", "No Eyewear", "Eyeglasses", "Sunglasses",
    "Mustache", "Smiling", "Frowning", "Chubby", "Blurry", "Harsh Lighting", "Flash",
    "Soft Lighting", "Outdoor", "Curly Hair", "Wavy Hair", "Straight Hair", "Receding Hairline",
    "Bangs", "Sideburns", "Fully Visible Forehead", "Partially Visible Forehead",
    "Obstructed Forehead", "Bushy Eyebrows", "Arched Eyebrows", "Narrow Eyes", "Eyes Open",
    "Big Nose", "Pointy Nose", "Big Lips", "Mouth Closed", "Mouth Slightly Open",
    "Mouth Wide Open", "Teeth Not Visible", "No Beard", "Goatee", "Round Jaw", "Double Chin",
    "Wearing Hat", "Oval Face", "Square Face", "Round Face", "Color Photo", "Posed Photo",
    "Attractive Man", "Attractive Woman", "Indian", "Gray Hair", "Bags Under Eyes",
    "Heavy Makeup", "Rosy Cheeks", "Shiny Skin", "Pale Skin", "5 o' Clock Shadow",
    "Strong Nose-Mouth Lines", "Wearing Lipstick", "Flushed Face", "High Cheekbones",
    "Brown Eyes", "Wearing Earrings", "Wearing Necktie", "Wearing Necklace")

PEOPLE = {"Aaron Eckhart": 1, "Abdullah Gul": 3, "Ben Affleck": 2, "Gloria Macapagal Arroyo": 4,
          "Jean-Pierre Raffarin": 2, "John Travolta": 3, "Naomi Watts": 2, "Tony Blair": 5}


def write_lfw(root, people: dict[str, int] = PEOPLE, image_dir: str = "lfw-deepfunneled",
              unlisted: int = 0, newline: str = "\n", seed: int = 0, size: int = 250
              ) -> tuple[list[str], np.ndarray]:
    """Writes `people` ({name: image count}) as root/image_dir/<Name>/<Name>_000k.jpg and
    root/lfw_attributes.txt. Each image is one flat colour chosen from its first attribute score,
    so an image can be traced back to its row. The last `unlisted` images of the last person
    get no attribute row. Returns the attribute file's data lines and the scores [N, 73]."""
    rng = np.random.default_rng(seed)
    lines, scores = [], []
    for p, (person, count) in enumerate(people.items()):
        folder = os.path.join(root, image_dir, person.replace(" ", "_"))
        os.makedirs(folder, exist_ok=True)
        for k in range(1, count + 1):
            values = np.round(rng.normal(0.0, 1.5, len(LFW_ATTRIBUTES)), 5)
            grey = int(np.clip(128 + 40 * values[0], 0, 255))
            Image.new("RGB", (size, size), (grey, grey, grey)).save(
                os.path.join(folder, f"{person.replace(' ', '_')}_{k:04d}.jpg"), quality=95)
            if p == len(people) - 1 and k > count - unlisted:
                continue
            lines.append("\t".join([person, str(k)] + [f"{v:g}" for v in values]))
            scores.append(values)
    header = ["# ", "\t".join(["#", "person", "imagenum", *LFW_ATTRIBUTES])]
    with open(os.path.join(root, "lfw_attributes.txt"), "w", newline="") as f:
        f.write(newline.join(header + lines) + newline)
    return lines, np.array(scores, np.float32)
