"""albumentations pipelines built from config lists.

A pipeline is a list of dicts, each naming an albumentations transform by
``type`` with its arguments, e.g.::

    train_pipeline = [
        dict(type='RandomScale', scale_limit=(-0.5, 0.5), p=1.0),
        dict(type='PadIfNeeded', min_height=128, min_width=256, fill=0, fill_mask=255),
        dict(type='RandomCrop', height=128, width=256),
        dict(type='HorizontalFlip', p=0.5),
    ]

Masks are transformed with nearest-neighbour interpolation; pad masks with 255
(the ignore index). Normalisation and conversion to tensors are done by the
dataset after the pipeline.
"""
from typing import Optional, Sequence

import albumentations as A

from ..errors import InvalidValue


def build_pipeline(steps: Optional[Sequence[dict]], key: str) -> Optional[A.Compose]:
    """Builds an ``A.Compose`` from config dicts; ``None`` or an empty list gives ``None``.

    Raises:
        ValueError: A step has no ``type``, names no albumentations transform,
            or has arguments the transform does not take; the message names
            ``key`` and the step.
    """
    if not steps:
        return None
    transforms = []
    for index, step in enumerate(steps):
        step = dict(step)
        name = step.pop("type", None)
        where = f"{key}[{index}]"
        transform_cls = getattr(A, name, None) if isinstance(name, str) else None
        is_transform = isinstance(transform_cls, type) and issubclass(transform_cls, A.BasicTransform)
        if not is_transform:
            raise InvalidValue(f"{where}: {name!r} is not an albumentations transform")
        try:
            transforms.append(transform_cls(**step))
        except (TypeError, ValueError) as err:
            raise InvalidValue(f"{where} ({name}): {err}") from err
    return A.Compose(transforms)
