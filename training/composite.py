"""Lab leaves on field backgrounds: the answer to the bank's lab-versus-field gap.

Most crop-disease photos of the bank are lab photos (one leaf on a plain grey or white
background), while the app is used in fields. During training, a share of lab photos has its
leaf cut out and laid on a random crop of a field background from the bank (``weed.none``:
field ground with no target weed), so the network cannot lean on the plain background.

The leaf is found by colour: the background's colour is the median of the photo's border, and
Otsu's threshold on each pixel's distance from it (in CIELAB, lightness down-weighted so that
shadows stay background), cleaned by morphology and kept to the largest region, gives the leaf.
Photos where this fails (leaf filling the frame, as in most corn photos) are left unchanged.
Mask edges are feathered so the paste leaves no hard outline to learn from.
"""

import cv2
import numpy as np


def leaf_mask(rgb: np.ndarray) -> np.ndarray | None:
    """A float mask in [0, 1] of the main leaf of a lab photo, or None when the photo does not
    look like one leaf on a plain background (then it is left as it is)."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    background = np.median(border, axis=0)
    difference = lab - background
    difference[:, :, 0] *= 0.35  # shadows change lightness, leaves change colour
    distance = np.sqrt((difference**2).sum(axis=2))
    distance = cv2.GaussianBlur(np.clip(distance * 3, 0, 255).astype(np.uint8), (5, 5), 0)
    _, binary = cv2.threshold(distance, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel, iterations=2)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = (labels == largest).astype(np.uint8)
    # fill holes: pale lesions inside the leaf belong to the leaf
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    mask = cv2.drawContours(np.zeros_like(mask), contours, -1, 1, thickness=cv2.FILLED)
    share = float(mask.mean())
    border_share = float(np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]]).mean())
    if not 0.08 <= share <= 0.8 or border_share > 0.25:
        return None
    feathered: np.ndarray = cv2.GaussianBlur(mask.astype(np.float32), (7, 7), 0)
    return feathered


def random_crop(
    background: np.ndarray, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """A random region of ``background`` resized to ``shape`` (height, width)."""
    height, width = background.shape[:2]
    scale = rng.uniform(0.5, 1.0)
    crop_h = max(16, int(height * scale))
    crop_w = max(16, min(width, int(crop_h * shape[1] / shape[0])))
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    region = background[top : top + crop_h, left : left + crop_w]
    resized: np.ndarray = cv2.resize(region, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return resized


def composite(
    leaf: np.ndarray,
    mask: np.ndarray,
    background: np.ndarray,
    rng: np.random.Generator,
    scale_min: float = 1.0,
) -> np.ndarray:
    """Lay the masked leaf on a random crop of ``background``.

    With ``scale_min`` under 1 the leaf is shrunk by a random factor down to it and laid at a
    random place, as a leaf appears in a field photo taken from further away than a lab's."""
    ground = random_crop(background, leaf.shape[:2], rng).astype(np.float32)
    scale = rng.uniform(scale_min, 1.0) if scale_min < 1.0 else 1.0
    if scale < 1.0:
        height, width = mask.shape
        small = (max(8, int(width * scale)), max(8, int(height * scale)))
        top = int(rng.integers(0, height - small[1] + 1))
        left = int(rng.integers(0, width - small[0] + 1))
        placed_leaf = np.zeros_like(leaf)
        placed_mask = np.zeros_like(mask)
        placed_leaf[top : top + small[1], left : left + small[0]] = cv2.resize(
            leaf, small, interpolation=cv2.INTER_AREA
        )
        placed_mask[top : top + small[1], left : left + small[0]] = cv2.resize(
            mask, small, interpolation=cv2.INTER_AREA
        )
        leaf, mask = placed_leaf, placed_mask
    alpha = mask[:, :, None]
    return (alpha * leaf.astype(np.float32) + (1 - alpha) * ground).astype(np.uint8)


def inside_crop(
    leaf: np.ndarray, mask: np.ndarray, rng: np.random.Generator, min_side: int = 64
) -> np.ndarray | None:
    """A square crop that lies wholly inside the leaf: a close-up of the lesions with no lab
    background left to learn from, as a phone held near a leaf on the tree frames it.

    Its side is a random share (0.35 to 0.7) of the leaf's own size; None when the leaf is too
    thin to hold a square of ``min_side`` pixels."""
    inside = (mask > 0.5).astype(np.uint8)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    leaf_size = float(np.sqrt(inside.sum()))
    half = int(leaf_size * rng.uniform(0.35, 0.7) / 2)
    half = min(half, int(depth.max() / np.sqrt(2)))
    if 2 * half < min_side:
        return None
    # a square of half-side h fits inside the leaf where the distance to its edge is >= h*sqrt(2)
    height, width = inside.shape  # centres at least ``half`` from the photo's edges
    fits = depth[half : height - half, half : width - half] >= half * np.sqrt(2)
    rows, columns = np.nonzero(fits)
    rows, columns = rows + half, columns + half
    if len(rows) == 0:
        return None
    pick = int(rng.integers(len(rows)))
    row, column = int(rows[pick]), int(columns[pick])
    crop: np.ndarray = leaf[row - half : row + half, column - half : column + half]
    return crop
