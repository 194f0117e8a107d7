"""The training-time augmentation for field photos (albumentations).

Field photos differ from the bank's in framing, angle, light, focus and compression, so each
of those is varied: random resized crops, flips and rotations, colour and brightness changes,
blur, JPEG artefacts and cast shadows. ``photometric="field"`` adds what a phone meets outdoors
and a lab bench never shows (issue 14's trials): the colour temperature of sun and shade
(Planckian jitter), glare, harder and more frequent cast shadows, perspective from a photo
taken at an angle, defocus, and tone curves. Evaluation never augments: it uses
``model.preprocess``, exactly as inference does.
"""

import os

# albumentations checks PyPI for a newer version at import time unless told not to: this
# project never reaches the network at run time.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from typing import Literal

import albumentations as A
import cv2

Photometric = Literal["standard", "field"]


def outdoor_light() -> list[A.BasicTransform]:
    """Light, angle and focus of a hand-held photo outdoors, which lab photos never have."""
    return [
        A.PlanckianJitter(mode="blackbody", p=0.5),
        A.Perspective(scale=(0.03, 0.08), p=0.3),
        A.RandomShadow(shadow_intensity_range=(0.4, 0.8), p=0.3),
        A.RandomSunFlare(src_radius=80, p=0.1),
        A.RandomToneCurve(scale=0.2, p=0.3),
        A.Defocus(radius=(1, 3), p=0.15),
    ]


def field_augmentation(
    size: int, crop_scale_min: float = 0.35, photometric: Photometric = "standard"
) -> A.Compose:
    """``crop_scale_min``: the smallest share of the photo a random crop keeps (too small a
    crop can lose a small insect altogether)."""
    return A.Compose(
        [
            A.RandomResizedCrop(
                size=(size, size),
                scale=(crop_scale_min, 1.0),
                ratio=(0.75, 1.333),
                interpolation=cv2.INTER_CUBIC,
            ),
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.2),
            A.Affine(rotate=(-30, 30), border_mode=cv2.BORDER_REFLECT_101, p=0.5),
            A.ColorJitter(
                brightness=(0.7, 1.3),
                contrast=(0.7, 1.3),
                saturation=(0.7, 1.3),
                hue=(-0.03, 0.03),
                p=0.8,
            ),
            A.RandomShadow(shadow_intensity_range=(0.3, 0.6), p=0.2),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))], p=0.2),
            *(outdoor_light() if photometric == "field" else []),
            A.ImageCompression(quality_range=(40, 95), p=0.3),
        ]
    )
