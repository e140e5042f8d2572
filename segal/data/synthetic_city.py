"""A small synthetic street-scene dataset in the exact Cityscapes layout and label-id space.

Scenes have a road running to a vanishing point, sidewalks, buildings with
windows, sky, trees, poles with signs, and cars; rare classes (rider,
bicycle, motorcycle, train, bus, truck, ...) appear in few images and cover
few pixels, so class frequencies are skewed as in Cityscapes. Colours are
jittered per image and per pixel, and several classes share similar colours
(road and sidewalk, building and wall, vegetation and terrain), so the task is
learnable but not trivial. Every image is a function of (seed, split, index)
only. The ego-vehicle bonnet at the bottom of some frames carries label id 1
(ignored in evaluation), as in the real data.
"""
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, Tuple

import cv2
import numpy as np

from ..utils.progress import Progress

# Cityscapes label ids
UNLABELED, EGO, ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE = 0, 1, 7, 8, 11, 12, 13, 17
TRAFFIC_LIGHT, TRAFFIC_SIGN, VEGETATION, TERRAIN, SKY, PERSON, RIDER = 19, 20, 21, 22, 23, 24, 25
CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE = 26, 27, 28, 31, 32, 33

BASE_RGB: Dict[int, Tuple[int, int, int]] = {
    ROAD: (96, 94, 98), SIDEWALK: (128, 118, 122), BUILDING: (118, 96, 84), WALL: (130, 116, 100),
    FENCE: (150, 140, 110), POLE: (70, 70, 75), TRAFFIC_LIGHT: (40, 40, 30), TRAFFIC_SIGN: (200, 190, 40),
    VEGETATION: (62, 118, 44), TERRAIN: (112, 140, 70), SKY: (140, 175, 220), PERSON: (170, 60, 70),
    RIDER: (200, 80, 40), TRUCK: (90, 90, 150), BUS: (60, 130, 160), TRAIN: (170, 150, 60),
    MOTORCYCLE: (50, 40, 120), BICYCLE: (110, 30, 60), EGO: (30, 30, 35), UNLABELED: (0, 0, 0),
}

META_FILE = "synthetic_city.json"
CITIES = {"train": ["aachen", "bremen", "cologne"], "val": ["frankfurt"]}


class _Canvas:
    """An RGB image and its label-id map, drawn together."""

    def __init__(self, height: int, width: int, rng: np.random.Generator):
        self.h, self.w, self.rng = height, width, rng
        self.image = np.zeros((height, width, 3), np.float32)
        self.label = np.zeros((height, width), np.uint8)

    def colour(self, label_id: int, spread: float = 18.0) -> np.ndarray:
        return np.clip(np.asarray(BASE_RGB[label_id], np.float32) + self.rng.normal(0, spread, 3), 0, 255)

    def fill(self, mask: np.ndarray, label_id: int, colour=None, texture: float = 0.0) -> None:
        colour = self.colour(label_id) if colour is None else colour
        pixels = np.broadcast_to(colour, (int(mask.sum()), 3)).copy()
        if texture:
            pixels += self.rng.normal(0, texture, (len(pixels), 1))
        self.image[mask] = pixels
        self.label[mask] = label_id

    def polygon(self, points, label_id: int, colour=None, texture: float = 0.0) -> None:
        mask = np.zeros((self.h, self.w), np.uint8)
        cv2.fillPoly(mask, [np.round(np.asarray(points)).astype(np.int32)], 1)
        self.fill(mask.astype(bool), label_id, colour, texture)

    def rect(self, x0, y0, x1, y1, label_id: int, colour=None, texture: float = 0.0) -> None:
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], label_id, colour, texture)

    def ellipse(self, cx, cy, rx, ry, label_id: int, colour=None, texture: float = 0.0) -> None:
        mask = np.zeros((self.h, self.w), np.uint8)
        cv2.ellipse(mask, (int(cx), int(cy)), (max(1, int(rx)), max(1, int(ry))), 0, 0, 360, 1, -1)
        self.fill(mask.astype(bool), label_id, colour, texture)


def _vehicle(c: _Canvas, x: float, base: float, width: float, height: float, label_id: int, colour) -> None:
    """A box body with a darker window band and two wheels, standing on ``base``."""
    c.rect(x, base - height, x + width, base - 0.15 * height, label_id, colour, texture=6)
    c.rect(x + 0.1 * width, base - 0.9 * height, x + 0.9 * width, base - 0.6 * height, label_id, colour * 0.45)
    for wx in (x + 0.2 * width, x + 0.8 * width):
        c.ellipse(wx, base - 0.12 * height, 0.1 * width, 0.12 * height, label_id, np.array([20.0, 20, 20]))


def _two_wheeler(c: _Canvas, x: float, base: float, size: float, label_id: int, with_rider: bool) -> None:
    colour = c.colour(label_id, 25)
    for wx in (x, x + size):
        c.ellipse(wx, base - 0.25 * size, 0.25 * size, 0.25 * size, label_id, colour)
    c.rect(x, base - 0.35 * size, x + size, base - 0.25 * size, label_id, colour)
    if with_rider:
        c.rect(x + 0.3 * size, base - 1.3 * size, x + 0.65 * size, base - 0.35 * size, RIDER, texture=8)
        c.ellipse(x + 0.48 * size, base - 1.45 * size, 0.17 * size, 0.17 * size, RIDER, c.colour(PERSON))


class _Street:
    """Where the road runs: from the vanishing point on the horizon to the bottom of the image."""

    def __init__(self, height: int, horizon: float, vanish_x: float, road_left: float, road_right: float):
        self.height, self.horizon, self.vanish_x = height, horizon, vanish_x
        self.road_left, self.road_right = road_left, road_right

    def at(self, depth: float) -> Tuple[float, float, float]:
        """``(left x, right x, ground y)`` of the road at relative depth in (0, 1]."""
        y = self.horizon + depth * (self.height - self.horizon)
        return (self.vanish_x + (self.road_left - self.vanish_x) * depth,
                self.vanish_x + (self.road_right - self.vanish_x) * depth, y)


def draw_scene(height: int, width: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """One street scene: ``(image [H, W, 3] uint8 RGB, label ids [H, W] uint8)``.

    Layers are drawn back to front, each drawing its random numbers in a fixed order, so a seed gives one scene.
    """
    c = _Canvas(height, width, rng)
    horizon = height * rng.uniform(0.38, 0.5)
    vanish_x = width * rng.uniform(0.4, 0.6)
    _draw_sky_and_buildings(c, horizon)
    for _ in range(rng.integers(1, 5)):  # trees between the buildings and the street
        tx, ty = rng.uniform(0, width), horizon - height * rng.uniform(0.0, 0.15)
        c.ellipse(tx, ty, width * rng.uniform(0.04, 0.1), height * rng.uniform(0.06, 0.16), VEGETATION, texture=14)
    street = _Street(height, horizon, vanish_x, width * rng.uniform(-0.3, 0.1), width * rng.uniform(0.9, 1.3))
    _draw_road(c, street)
    _draw_poles(c, street)
    _draw_vehicles(c, street)
    _draw_people(c, street)
    if rng.random() < 0.3:  # ego-vehicle bonnet (ignored in evaluation) in some frames
        c.ellipse(width / 2, height * 1.05, width * 0.6, height * 0.09, EGO)
    brightness = rng.uniform(0.75, 1.2)
    noisy = c.image * brightness + rng.normal(0, 9, c.image.shape).astype(np.float32)
    image = cv2.GaussianBlur(np.clip(noisy, 0, 255).astype(np.uint8), (3, 3), 0.6)
    return image, c.label


def _draw_sky_and_buildings(c: _Canvas, horizon: float) -> None:
    """Sky with a vertical gradient; buildings along the horizon with window grids, some walls."""
    rng, height, width = c.rng, c.h, c.w
    sky = c.colour(SKY, 15)
    c.rect(0, 0, width, horizon + 2, SKY, sky)
    c.image[: int(horizon) + 2] += np.linspace(-25, 15, int(horizon) + 2, dtype=np.float32)[:, None, None]
    x = -rng.uniform(0, 20)
    while x < width:
        bw = width * rng.uniform(0.08, 0.22)
        top = horizon - height * rng.uniform(0.08, 0.35)
        label_id = WALL if rng.random() < 0.12 else BUILDING
        colour = c.colour(label_id, 22)
        c.rect(x, top, x + bw, horizon + 4, label_id, colour, texture=5)
        if label_id == BUILDING:
            win = colour * rng.uniform(0.4, 0.7)
            step = max(3.0, height / 40)
            for wy in np.arange(top + step, horizon - step, 2 * step):
                for wx in np.arange(x + step, x + bw - step, 2 * step):
                    c.rect(wx, wy, wx + step, wy + step, BUILDING, win)
        x += bw


def _draw_road(c: _Canvas, street: _Street) -> None:
    """Sidewalks, the road to the vanishing point with its lane marks, sometimes a grass verge and a fence."""
    rng, height, width, horizon = c.rng, c.h, c.w, street.horizon
    c.rect(0, horizon + 2, width, height, SIDEWALK, texture=8)
    c.polygon([(street.vanish_x - 2, horizon), (street.vanish_x + 2, horizon), (street.road_right, height),
               (street.road_left, height)], ROAD, texture=6)
    if rng.random() < 0.5:  # a grass verge beside the road
        c.rect(0, horizon + 2, width, horizon + (height - horizon) * rng.uniform(0.08, 0.2), TERRAIN, texture=10)
    lane = np.array([225.0, 225, 215])
    for t in np.linspace(0.15, 0.95, 6):
        y0, y1 = horizon + t * (height - horizon), horizon + (t + 0.06) * (height - horizon)
        xm = street.vanish_x + (0.5 * (street.road_left + street.road_right) - street.vanish_x) * (t + 0.03)
        c.rect(xm - 1 - 2 * t, y0, xm + 1 + 2 * t, y1, ROAD, lane)
    if rng.random() < 0.2:
        c.rect(0, horizon + (height - horizon) * 0.1, width * 0.25, horizon + (height - horizon) * 0.18, FENCE,
               texture=12)


def _draw_poles(c: _Canvas, street: _Street) -> None:
    """Poles on the sidewalks, some with signs or lights."""
    rng, height, width = c.rng, c.h, c.w
    for _ in range(rng.integers(0, 4)):
        depth = rng.uniform(0.3, 0.9)
        left, right, y = street.at(depth)
        px = left - width * 0.05 * depth if rng.random() < 0.5 else right + width * 0.05 * depth
        ph = height * 0.45 * depth
        c.rect(px, y - ph, px + max(1.5, 4 * depth), y, POLE)
        if rng.random() < 0.5:
            c.rect(px - 5 * depth, y - ph, px + 9 * depth, y - ph + 10 * depth, TRAFFIC_SIGN)
        elif rng.random() < 0.3:
            c.rect(px - 2 * depth, y - ph, px + 6 * depth, y - ph + 14 * depth, TRAFFIC_LIGHT)


def _draw_vehicles(c: _Canvas, street: _Street) -> None:
    """Cars often, trucks and buses sometimes, a train rarely; far ones first."""
    rng, height, width = c.rng, c.h, c.w
    vehicles = [(rng.uniform(0.25, 1.0), CAR) for _ in range(rng.integers(0, 5))]
    if rng.random() < 0.15:
        vehicles.append((rng.uniform(0.3, 0.8), TRUCK if rng.random() < 0.5 else BUS))
    for depth, label_id in sorted(vehicles):
        left, right, y = street.at(depth)
        size = width * 0.22 * depth * (1.6 if label_id != CAR else 1.0)
        vx = rng.uniform(left, max(left + 1, right - size))
        colour = c.colour(label_id, 20) if label_id != CAR else rng.uniform(30, 230, 3).astype(np.float32)
        _vehicle(c, vx, y, size, size * (0.55 if label_id == CAR else 0.8), label_id, colour)
    if rng.random() < 0.05:
        _, _, y = street.at(0.15)
        tx = width * rng.uniform(0.0, 0.5)
        _vehicle(c, tx, y, width * 0.5, height * 0.14, TRAIN, c.colour(TRAIN, 15))


def _draw_people(c: _Canvas, street: _Street) -> None:
    """People on the sidewalk; riders on two wheels on the road, rarely."""
    rng, height, width = c.rng, c.h, c.w
    for _ in range(rng.integers(0, 3)):
        depth = rng.uniform(0.3, 0.9)
        left, _, y = street.at(depth)
        px, ph = left - width * rng.uniform(0.02, 0.12) * depth, height * 0.25 * depth
        c.rect(px, y - 0.8 * ph, px + 0.25 * ph, y, PERSON, texture=10)
        c.ellipse(px + 0.12 * ph, y - 0.88 * ph, 0.1 * ph, 0.1 * ph, PERSON, c.colour(PERSON))
    if rng.random() < 0.12:
        depth = rng.uniform(0.4, 0.9)
        left, right, y = street.at(depth)
        label_id = BICYCLE if rng.random() < 0.6 else MOTORCYCLE
        _two_wheeler(c, rng.uniform(left, right - 20), y, height * 0.12 * depth, label_id,
                     with_rider=rng.random() < 0.8)


def _write_one(args) -> None:
    root, split, index, height, width, seed = args
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, index])
    image, label = draw_scene(height, width, rng)
    city = CITIES[split][index % len(CITIES[split])]
    stem = f"{city}_{index:06d}_000019"
    image_dir = Path(root) / "leftImg8bit" / split / city
    label_dir = Path(root) / "gtFine" / split / city
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(image_dir / f"{stem}_leftImg8bit.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(label_dir / f"{stem}_gtFine_labelIds.png"), label)


def generate(root, num_train: int = 200, num_val: int = 50, height: int = 64, width: int = 128, seed: int = 0,
             workers: int = 1, progress: bool = True) -> Path:
    """Writes the dataset under ``root`` and a ``synthetic_city.json`` describing it.

    The description is written last, so a folder without it is an
    interrupted generation and may be regenerated.
    """
    root = Path(root)
    options = dict(num_train=num_train, num_val=num_val, height=height, width=width, seed=seed)
    jobs = [(str(root), split, i, height, width, seed) for split, n in (("train", num_train), ("val", num_val))
            for i in range(n)]
    bar = Progress(len(jobs), "synthetic city", unit="img", enabled=progress)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(_write_one, jobs, chunksize=8):
                bar.update()
    else:
        for job in jobs:
            _write_one(job)
            bar.update()
    bar.close()
    (root / META_FILE).write_text(json.dumps(options, indent=2))
    return root


def read_options(root) -> dict:
    """The generation options recorded in ``root``, or ``{}`` if none are."""
    path = Path(root) / META_FILE
    return json.loads(path.read_text()) if path.is_file() else {}
