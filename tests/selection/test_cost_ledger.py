"""The cost ledger: a region labelled with its exact labels costs one click per class in it, void alone one."""
import cv2
import numpy as np

from segal.data.pool import ActivePool, Split
from segal.data.region_pool import RegionLabels
from segal.selection.cost_ledger import CostLedger


class TinyDataset:
    """Two 4x6 images cut into three regions of 4x2 columns, with known labels (255 is void)."""

    regions = object()  # the ledger asks only whether the dataset has regions
    ignore_index = 255

    def __init__(self, tmp_path):
        self.labels = {0: np.array([[1, 1, 2, 2, 255, 255]] * 4, dtype=np.uint8),
                       1: np.array([[0, 3, 4, 4, 5, 255], [0, 0, 4, 4, 5, 6]] * 2, dtype=np.uint8)}
        self.paths = {}
        for image in self.labels:
            self.paths[image] = tmp_path / f"{image}.png"
            cv2.imwrite(str(self.paths[image]), np.zeros((4, 6, 3), dtype=np.uint8))

    def region_map(self, image):
        return np.repeat(np.array([[0, 0, 1, 1, 2, 2]]), 4, axis=0)

    def read(self, image):
        return np.zeros((4, 6, 3), dtype=np.uint8), self.labels[image]

    def image_path(self, image):
        return self.paths[image]

    def clicks(self, image):
        return 10, "label_contours"


def classes_in_each_region(dataset, image):
    """The reference: the distinct non-void labels of each region, counted with Python sets."""
    regions, label = dataset.region_map(image), dataset.read(image)[1]
    return [max(1, len({int(v) for v in label[regions == r]} - {255})) for r in range(3)]


def test_exact_region_labels_cost_one_click_per_class_present(tmp_path):
    dataset = TinyDataset(tmp_path)
    ledger = CostLedger(dataset, progress=False, per_class_regions=True)
    for image in (0, 1):
        assert ledger.region_clicks(image).tolist() == classes_in_each_region(dataset, image)
    assert ledger.region_clicks(1).tolist() == [2, 1, 2] and ledger.region_clicks(0).tolist() == [1, 1, 1]
    pool = ActivePool([Split.POOL, Split.POOL])
    labels = RegionLabels(pool)
    labels.label(0, [0, 2], step=1, num_regions=3)
    labels.label(1, [0, 2], step=1, num_regions=3)
    fields = ledger.labelled(pool, labels, {"images": 2, "pixels": 48, "clicks": 20, "regions": 6})
    assert fields["labelled_clicks"] == 1 + 1 + 2 + 2 and fields["labelled_regions"] == 4
    assert fields["click_model"] == "+one_per_class_in_region"
    plain = CostLedger(dataset, progress=False).labelled(pool, labels, {})
    assert plain["labelled_clicks"] == 4 and plain["click_model"] == "+one_per_region"
