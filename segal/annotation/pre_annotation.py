"""The pre-annotation of each selected image: the model's prediction, cut to the regions to label in region mode."""
from typing import Iterator, Optional, Tuple

import cv2
import numpy as np

from ..data.image_files import image_size, read_image_file
from ..errors import InvalidValue
from ..utils.progress import Progress
from .label_scheme import LabelScheme
from .predictions import read_prediction
from .selection_file import SelectedImage, SelectionFile

#: Train id of the pixels a pre-annotation leaves for the annotator (outside the regions to label).
NO_CLASS = 255


def pre_annotations(selection: SelectionFile, scheme: LabelScheme, progress: bool = True
                    ) -> Iterator[Tuple[SelectedImage, np.ndarray, Optional[np.ndarray]]]:
    """Yields each selected image with its pre-annotation and (region mode) its mask, in rank order.

    Yields:
        ``(image, train ids [H, W] uint8 with 255 outside the regions to label, mask [H, W] bool or None)``.
    """
    with Progress(len(selection.images), "export", unit="img", enabled=progress) as bar:
        for image in selection.images:
            size = image_size(image.image)
            predicted = read_prediction(image.prediction, len(scheme.names), size)
            mask = None
            if image.mask is not None:
                mask = read_image_file(image.mask, cv2.IMREAD_UNCHANGED)
                if mask.shape != predicted.shape:
                    raise InvalidValue(f"region mask {image.mask} is {mask.shape[::-1]}, its image {size}")
                mask = mask > 0
                predicted = np.where(mask, predicted, NO_CLASS).astype(np.uint8)
            yield image, predicted, mask
            bar.update(1)
