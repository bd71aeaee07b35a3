import numpy as np
from PIL import Image


def make_image_tree(root, folders, per_class=2, size=32):
    """Write small random RGB PNGs under root/<folder>/."""
    rng = np.random.default_rng(0)
    for folder in folders:
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(d / f"{i:04d}.png")
