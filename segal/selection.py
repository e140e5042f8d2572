"""Choosing images for annotators: score an unlabelled pool with a trained checkpoint.

The pool comes from a run's ``state.json`` (its unlabelled pool ids), or from a
folder or list of images that have no labels at all. The result is a ranked
selection written as JSON and CSV; with a state file, the chosen ids are also
recorded there as the next step, pending annotation.
"""
import csv
import io
import json
import logging
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np
import torch
from mmengine.config import Config

from .apis import build_dataset, build_model
from .data.cityscapes import ImageFolderPool
from .data.pool import ActivePool, Split
from .engine.loop import RunStateError
from .registry import DATASETS, SCORERS, build
from .reporting import write_metrics
from .scorers.base import ScoringContext
from .utils import atomic_write_text, derive_seed, read_json, resolve_device

logger = logging.getLogger("segal")


class CheckpointMismatch(ValueError):
    """A checkpoint was trained for other classes or another architecture than the config's."""


def load_checkpoint(path, model: torch.nn.Module, model_cfg: dict, classes: List[str], device) -> dict:
    """Loads ``path`` into ``model`` after checking it matches the config.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointMismatch: its classes or model config differ from the config's; the message names both.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    model_cfg = model_cfg.to_dict() if hasattr(model_cfg, "to_dict") else dict(model_cfg)
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    meta = checkpoint.get("meta", {})
    if meta.get("classes") is not None and list(meta["classes"]) != list(classes):
        raise CheckpointMismatch(f"checkpoint {path} has classes {meta['classes']}, the config's dataset has {list(classes)}")
    if meta.get("model") is not None and meta["model"] != model_cfg:
        raise CheckpointMismatch(f"checkpoint {path} was trained as model {meta['model']}, the config asks for {model_cfg}")
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise CheckpointMismatch(f"checkpoint {path} does not fit the config's model {model_cfg}: {err}") from err
    return meta


def _predicted_summary(logits: torch.Tensor, classes: List[str], top: int = 3) -> dict:
    """What the model predicts for one sample: the class (classification) or the top classes by pixel share."""
    probs = torch.softmax(logits.double(), dim=0)
    if probs.ndim == 1:
        best = int(probs.argmax())
        return {"class": classes[best], "confidence": round(float(probs[best]), 4)}
    shares = torch.bincount(probs.argmax(0).flatten(), minlength=len(classes)).double() / probs[0].numel()
    order = torch.argsort(shares, descending=True)[:top]
    return {classes[int(c)]: round(float(shares[c]), 4) for c in order if shares[c] > 0}


def _write_heatmap(path: Path, image: np.ndarray, values: np.ndarray) -> None:
    """The image beside a JET colour map of ``values`` blended over it."""
    span = values.max() - values.min()
    scaled = np.zeros_like(values) if span <= 0 else (values - values.min()) / span
    colour = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_JET)
    if colour.shape[:2] != image.shape[:2]:
        colour = cv2.resize(colour, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(path), np.concatenate([bgr, cv2.addWeighted(bgr, 0.4, colour, 0.6, 0)], axis=1))


def _write_selection(out: Path, entries: List[dict], meta: dict) -> None:
    atomic_write_text(out, json.dumps({**meta, "selection": entries}, indent=2))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["rank", "id", "image", "score", "predicted"])
    for e in entries:
        writer.writerow([e["rank"], e["id"], e["image"], e["score"], json.dumps(e["predicted"])])
    atomic_write_text(out.with_suffix(".csv"), buffer.getvalue())


def select_for_annotation(
    cfg: Config,
    checkpoint: str,
    budget: int,
    state: Optional[str] = None,
    pool_source: Optional[str] = None,
    out: Optional[str] = None,
    heatmaps: Optional[str] = None,
) -> List[dict]:
    """Scores the unlabelled pool with the config's scorer and writes the top ``budget``.

    Args:
        cfg: The experiment config (its dataset, model and scorer).
        checkpoint: Trained weights, e.g. ``work_dir/checkpoints/step_0.pth``.
        budget: How many images to select.
        state: A run's ``state.json``: select from its unlabelled pool and record
            the selection there as the next step, pending annotation.
        pool_source: Without ``state``: a folder or list file of unlabelled
            images (segmentation configs), read with the config's test pipeline.
        out: Where the JSON goes (a CSV is written beside it). Default:
            ``selection_step<N>.json`` beside the state file, else ``selection.json``.
        heatmaps: Folder for one PNG per selected image showing where the model
            is likely wrong (segmentation only).

    Returns:
        The ranked entries: ``rank``, ``id``, ``image``, ``score``, ``predicted``.
    """
    if (state is None) == (pool_source is None):
        raise ValueError("give exactly one of --state (a run's state.json) or --pool (a folder or list of images)")
    device = resolve_device(cfg.get("device", "auto"))
    scorer = build(SCORERS, cfg.scorer, "scorer", lenient=True)
    saved = None
    if state is not None:
        saved = read_json(state)
        dataset = build_dataset(cfg)
        pool = ActivePool.from_state_dict(saved["pool"])
        if len(pool) != len(dataset):
            raise RunStateError(f"{state} has {len(pool)} ids but the config's dataset has {len(dataset)}")
        step = saved["completed_step"]
        pending = pool.labelled_ids(step + 1)
        if len(pending):
            raise RunStateError(
                f"{state}: {len(pending)} images selected at step {step} are still pending annotation; "
                f"train on them (tools/train.py) before selecting again"
            )
    else:
        dataset_cls = DATASETS.get(cfg.dataset["type"])
        if getattr(dataset_cls, "task", None) != "segmentation":
            raise ValueError("--pool works with segmentation configs; for classification select with --state")
        dataset = ImageFolderPool(pool_source, cfg.dataset.get("test_pipeline"), dataset_cls.classes)
        pool = ActivePool(np.full(len(dataset), Split.POOL, dtype=np.int8))
        step = 0
    model = build_model(cfg.model, dataset).to(device)
    load_checkpoint(checkpoint, model, cfg.model, list(dataset.classes), device)
    model.eval()

    ctx = ScoringContext(
        model=model, dataset=dataset, pool=pool, device=device, step=step,
        seed=derive_seed(int(cfg.get("seed", 0)), step, "score"), batch_size=cfg.loop.get("score_batch_size", 8),
        progress=cfg.loop.get("progress", True),
    )
    if saved is None and scorer.needs_labelled_data:
        raise ValueError(f"{type(scorer).__name__} needs the holdout or labelled set of a run; select with --state")
    heat_dir = Path(heatmaps) if heatmaps else None
    if heat_dir is not None:
        if dataset.task != "segmentation":
            raise ValueError("--heatmaps needs a segmentation config")
        heat_dir.mkdir(parents=True, exist_ok=True)
    selection = scorer.select(ctx, budget)

    rank_of = {int(i): rank for rank, i in enumerate(selection.ids.tolist(), 1)}
    entries = []
    for batch in ctx.batches(selection.ids):  # one pass over the selected ids, in rank order
        with torch.no_grad():
            logits = model(batch["inputs"])
        maps = scorer.pixel_map(ctx, batch).float().cpu().numpy() if heat_dir is not None else None
        for row, sample_id in enumerate(batch["id"].tolist()):
            rank, score = rank_of[sample_id], float(selection.scores[rank_of[sample_id] - 1])
            image = str(dataset.image_path(sample_id)) if hasattr(dataset, "image_path") else ""
            entries.append({"rank": rank, "id": sample_id, "image": image,
                            "score": score if np.isfinite(score) else None,
                            "predicted": _predicted_summary(logits[row], list(dataset.classes))})
            if maps is not None:
                _write_heatmap(heat_dir / f"{rank:04d}_id{sample_id}.png", dataset.read_image(sample_id), maps[row])

    if out is None:
        out = Path(state).parent / f"selection_step{step + 1}.json" if state else Path("selection.json")
    meta = {"config_scorer": dict(cfg.scorer), "checkpoint": str(checkpoint), "budget": budget,
            "next_step": step + 1 if state else None}
    _write_selection(Path(out), entries, meta)
    if saved is not None:
        pool.label(selection.ids, step + 1)
        saved["pool"] = pool.state_dict()
        saved["records"][-1]["selected_ids"] = selection.ids.tolist()
        atomic_write_text(state, json.dumps(saved))
        write_metrics(Path(state).parent / "metrics.jsonl", saved["records"])
        logger.info("recorded %d images as step %d, pending annotation, in %s", len(entries), step + 1, state)
    logger.info("wrote %s and %s", out, Path(out).with_suffix(".csv"))
    return entries
