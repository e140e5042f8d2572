"""Choosing images for annotators: score an unlabelled pool with a trained checkpoint.

The pool comes from an annotation run's ``state.json`` (its unlabelled pool
ids), or from a folder or list of images that have no labels at all. The
result is a ranked selection written as JSON and CSV; with a state file, the
chosen ids are also recorded there as the next step, pending annotation.
Every check runs before anything is written.
"""
import contextlib
import logging
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config

from ..data.classification_folder import ClassificationFolder
from ..data.costs import Budget
from ..data.image_folder import ImageFolderPool, list_pool_images
from ..data.pool import ActivePool, Split
from ..engine.records import write_metrics
from ..engine.run_folder import RunFolder
from ..engine.run_state import RunStateError, restored_pool, restored_regions
from ..errors import InvalidValue
from ..registry import DATASETS, SCORERS, effective_settings
from ..reporting.figures import image_stem, write_heatmap_figure
from ..run_mode import RunMode
from ..scorers.base import ScoringContext, check_budget
from ..selection.checks import check_scores_regions
from ..selection.cost_ledger import CostLedger
from ..selection.images import select_images
from ..selection.regions import record_regions, select_regions
from ..spec import ExperimentSpec
from ..utils.distributed import is_main
from ..utils.run_paths import beside_selection, selection_file
from .checkpoint import load_checkpoint
from .predictions import write_prediction, write_predictions
from .region_masks import write_region_selection
from .selection_file import IMAGE_COLUMNS, relative_image, scheme_meta, write_selection

logger = logging.getLogger("segal")

def _predicted_summary(logits: torch.Tensor, classes: List[str], top: int = 3) -> dict:
    """What the model predicts for one sample: the class (classification) or the top classes by pixel share."""
    probs = torch.softmax(logits.double(), dim=0)
    if probs.ndim == 1:
        best = int(probs.argmax())
        return {"class": classes[best], "confidence": round(float(probs[best]), 4)}
    shares = torch.bincount(probs.argmax(0).flatten(), minlength=len(classes)).double() / probs[0].numel()
    order = torch.argsort(shares, descending=True)[:top]
    return {classes[int(c)]: round(float(shares[c]), 4) for c in order if shares[c] > 0}


def heatmap_name(image: str, sample_id: int, taken: set) -> str:
    """``frankfurt_000000_000294.png`` for ``.../frankfurt_000000_000294_leftImg8bit.png``; unique in ``taken``."""
    stem = image_stem(image) if image else f"id{sample_id}"
    name = f"{stem}.png" if f"{stem}.png" not in taken else f"{stem}_id{sample_id}.png"
    taken.add(name)
    return name


def _restore_annotation_state(folder: RunFolder, spec: ExperimentSpec, dataset) -> Tuple[dict, ActivePool, int]:
    """Reads an annotation run's state and checks a selection may be recorded in it.

    Returns:
        ``(saved state, pool, step of the selecting model)``.

    Raises:
        RunStateError: The state belongs to a simulated run, has no trained
            step, or a selection is still pending annotation; the message says
            which command resolves it.
    """
    state = folder.state_path
    saved = folder.read_state(len(dataset))
    mode = RunMode.of_state(saved)
    if mode.regions != spec.mode.regions:
        raise RunStateError(f"{state} was {'' if mode.regions else 'not '}made with dataset.regions; select "
                            f"with the config the run was made with: {folder.config_path}")
    if not mode.labels_from_files:
        ranking = ("To rank images with this checkpoint without changing the run, use --pool DIR_OR_LIST; "
                   if dataset.task == "segmentation" else "")
        raise RunStateError(
            f"{state} belongs to a simulated run (loop.oracle='{mode.oracle}'), whose selections tools/train.py "
            f"makes; "
            f"select.py leaves its history alone. {ranking}To annotate for real, start an annotation run "
            f"(--cfg-options loop.oracle=annotators"
            + (", e.g. configs/cityscapes/*_annotation.py)" if dataset.task == "segmentation" else ")")
        )
    if not saved.get("records"):
        raise RunStateError(f"{state} has no trained step yet; run tools/train.py on its work dir first")
    folder.check_identity(saved, spec.seed, spec.identity["config_hash"], spec.cfg.to_dict())
    pool = restored_pool(saved)
    step = saved["completed_step"]
    pending = pool.labelled_ids(step + 1)
    if mode.regions:
        pending = restored_regions(saved, pool, state).images(step + 1)
    if len(pending):
        raise RunStateError(
            f"{state}: the {len(pending)} images of annotation step {step + 1} are still pending annotation. "
            f"Deliver their labels, then train step {step + 1} with: python tools/train.py CONFIG --work-dir "
            f"{folder.root} (add --allow-missing to train without the missing ones)"
        )
    return saved, pool, step


def _run_folder(state: str) -> RunFolder:
    """The run folder of ``--state``, which must name a run's ``state.json``."""
    folder = RunFolder(Path(state).parent)
    if Path(state).name != folder.state_path.name:
        raise InvalidValue(f"--state takes a run's {folder.state_path.name}, not {state}")
    return folder


def _run_images(checkpoint: str, dataset) -> dict:
    """Holdout and test images of the run that ``checkpoint`` belongs to: ``{resolved path: split name}``.

    Empty when the checkpoint does not lie in a run folder (``<run>/checkpoints/``).
    """
    folder = RunFolder.holding(checkpoint)
    if folder is None:
        return {}
    pool = restored_pool(folder.read_state())
    if len(dataset) != len(pool) or not hasattr(dataset, "image_path"):
        return {}
    return {**{Path(dataset.image_path(int(i))).resolve(): "test" for i in pool.test_ids},
            **{Path(dataset.image_path(int(i))).resolve(): "holdout" for i in pool.holdout_ids}}


def select_for_annotation(
    cfg: Config,
    checkpoint: str,
    budget: int,
    out_dir: str,
    state: Optional[str] = None,
    pool_source: Optional[str] = None,
    heatmaps: Optional[str] = None,
    unit: Optional[str] = None,
) -> Tuple[List[dict], Path]:
    """Scores the unlabelled pool with the config's scorer and writes the top ``budget``.

    Args:
        cfg: The experiment config (its dataset, model and scorer).
        checkpoint: Trained weights, e.g. ``work_dir/checkpoints/step_0.pth``.
        budget: How many images to select.
        out_dir: Folder for ``selection_step<N>.json`` (with ``state``) or
            ``selection.json`` (with ``pool_source``), and the CSV beside it.
        state: An annotation run's ``state.json``: select from its unlabelled
            pool and record the selection there as the next step, pending annotation.
        pool_source: Without ``state``: a folder or list file of unlabelled
            images (segmentation configs), read with the config's test pipeline.
        heatmaps: Folder for one PNG per selected image, named after the image,
            showing the per-pixel quantity behind the score (segmentation only).
        unit: What ``budget`` counts: ``'images'`` (default without
            ``dataset.regions``), or with ``dataset.regions`` ``'regions'``
            (default), ``'clicks'`` (one per region) or ``'pixels'``; regions are
            then chosen, and written as masks (:mod:`.region_masks`).

    Returns:
        The ranked entries (``rank``, ``id``, ``image``, ``score``, ``predicted``)
        and the path of the JSON file.
    """
    if state is not None and not Path(state).is_file():
        raise FileNotFoundError(f"run state not found: {state}")
    locked = state is not None and is_main()  # under torchrun, rank 0 alone writes
    with RunFolder(Path(state).parent).lock("tools/select.py") if locked else contextlib.nullcontext():
        return _select(cfg, checkpoint, budget, out_dir, state, pool_source, heatmaps, unit)


def _select(cfg, checkpoint, budget, out_dir, state, pool_source, heatmaps, unit) -> Tuple[List[dict], Path]:
    """:func:`select_for_annotation`, holding the run's lock when there is a run."""
    if (state is None) == (pool_source is None):
        raise InvalidValue("give exactly one of --state (a run's state.json) or --pool (a folder or list of images)")
    spec = ExperimentSpec(cfg)
    scorer = spec.build_scorer()
    folder = _run_folder(state) if state is not None else None
    if folder is not None:
        dataset = spec.dataset
        saved, pool, step = _restore_annotation_state(folder, spec, dataset)
    else:
        dataset, step, saved = _folder_pool(spec, checkpoint, pool_source), 0, None
        pool = ActivePool(np.full(len(dataset), Split.POOL, dtype=np.int8))
    if saved is None and scorer.needs_labelled_data:
        raise InvalidValue(f"{type(scorer).__name__} needs the holdout or labelled set of a run; select with --state")
    if heatmaps is not None and dataset.task != "segmentation":
        raise InvalidValue("--heatmaps needs a segmentation config")
    regions = _region_labels(spec.mode, saved, pool, scorer, unit)
    if regions is None:
        check_budget(budget, len(pool.candidate_ids()))
    elif budget < 1:
        raise InvalidValue(f"--budget must be at least 1 {unit or 'region'}, got {budget}")
    model = spec.build_model(dataset).to(spec.device)
    meta = load_checkpoint(checkpoint, model, cfg.model, list(dataset.classes), spec.device)
    if saved is not None:
        folder.check_checkpoint_of(saved, meta, checkpoint)
    model.eval()
    ctx = ScoringContext.for_step(model, dataset, pool, spec.device, step, spec.seed, spec.loop, spec.train)
    out = selection_file(out_dir, step + 1 if saved is not None else None)
    meta = _selection_meta(cfg, checkpoint, budget, unit, regions is not None, step, saved is not None, dataset)
    chosen_budget = Budget(meta["unit"], budget, key="--budget")
    if regions is not None:
        areas = CostLedger(dataset, progress=False).areas
        chosen, region_scores = select_regions(scorer, ctx, regions, chosen_budget, areas)
        if not is_main():
            return [], Path(out_dir)
        predictions = write_predictions(ctx, np.unique(chosen.image_ids), beside_selection(out, "predictions"))
        entries = write_region_selection(out, ctx, scorer, chosen, region_scores, meta, predictions)
        images = record_regions(regions, chosen, step + 1, areas)
        _record_pending(folder, saved, pool, images, step, regions)
        return entries, out
    selection, _ = select_images(scorer, ctx, chosen_budget)
    if not is_main():  # every rank has the same selection; rank 0 describes it and writes
        return [], Path(out_dir)
    entries = _describe(ctx, scorer, selection, Path(heatmaps) if heatmaps is not None else None,
                        beside_selection(out, "predictions") if dataset.task == "segmentation" else None)
    write_selection(out, meta, entries, IMAGE_COLUMNS)
    if saved is not None:
        _record_pending(folder, saved, pool, selection.ids, step)
    return entries, out


def _selection_meta(cfg: Config, checkpoint: str, budget: int, unit: Optional[str], regions: bool, step: int,
                    in_run: bool, dataset) -> dict:
    """What a selection file records besides its entries: scorer, checkpoint, budget, mode, the dataset's classes."""
    meta = {"scorer": effective_settings(SCORERS, dict(cfg.scorer)), "checkpoint": str(checkpoint),
            "budget": budget, "unit": unit or ("regions" if regions else "images"),
            "next_step": step + 1 if in_run else None, "mode": "regions" if regions else "images",
            **scheme_meta(dataset)}
    if dataset.task == "segmentation" and in_run:
        meta["split"] = cfg.dataset.get("pool_split", "train")
    return meta


def _folder_pool(spec: ExperimentSpec, checkpoint: str, pool_source: str):
    """``--pool``'s images, read as the config's dataset reads its own; none of the checkpoint's run's holdout or
    test images."""
    cfg = spec.cfg
    dataset_cls = DATASETS.get(cfg.dataset["type"])
    if dataset_cls is not ClassificationFolder and getattr(dataset_cls, "task", None) != "segmentation":
        raise InvalidValue("--pool works with segmentation and ClassificationFolder configs; for in-memory "
                           "classification sets select with --state")
    run_dataset = spec.dataset if RunFolder.holding(checkpoint) is not None else None
    if dataset_cls is ClassificationFolder:
        settings = {k: cfg.dataset[k] for k in ("mean", "std") if k in cfg.dataset}
        # the classes as training saw them: the config's, else the class folders of its dataset
        classes = cfg.dataset.get("classes") or spec.dataset.classes
        dataset = ClassificationFolder.unlabelled(list_pool_images(pool_source), classes, cfg.dataset.image_size,
                                                  **settings)
    else:
        classes = cfg.dataset.get("classes") or dataset_cls.classes  # SegmentationFolder: the config's classes
        dataset = ImageFolderPool(pool_source, cfg.dataset.get("test_pipeline"), classes)
    run_images = _run_images(checkpoint, run_dataset) if run_dataset is not None else {}
    clashes = [f"{p} ({run_images[p.resolve()]})" for p in dataset.images if p.resolve() in run_images]
    if clashes:
        raise InvalidValue(f"--pool holds {len(clashes)} images of the checkpoint's run that are not for "
                           f"annotation: {', '.join(clashes[:5])}" + (" ..." if len(clashes) > 5 else ""))
    if hasattr(dataset, "check_one_size"):  # classification images are resized to one size as they are read
        dataset.check_one_size()
    return dataset


def _describe(ctx: ScoringContext, scorer, selection, heat_dir: Optional[Path],
              predictions_dir: Optional[Path]) -> List[dict]:
    """The selection's entries in rank order (``rank``, ``id``, ``image``, ``score``, ``predicted``); with
    ``heat_dir``, one heat map per image; with ``predictions_dir``, each image's predicted label map
    (:func:`.predictions.write_prediction`, named in the entry's ``prediction``). One pass over the selected ids."""
    dataset = ctx.dataset
    for folder in (heat_dir, predictions_dir):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
    rank_of = {int(i): rank for rank, i in enumerate(selection.ids.tolist(), 1)}
    entries, names = [], set()
    for batch in ctx.batches(selection.ids):
        with torch.no_grad():
            logits = ctx.model(batch["inputs"])
        maps = scorer.pixel_map(ctx, batch).float().cpu().numpy() if heat_dir is not None else None
        for row, sample_id in enumerate(batch["id"].tolist()):
            rank, score = rank_of[sample_id], float(selection.scores[rank_of[sample_id] - 1])
            image = str(dataset.image_path(sample_id)) if hasattr(dataset, "image_path") else ""
            entries.append({"rank": rank, "id": sample_id, "image": image, **relative_image(dataset, sample_id),
                            "score": score if np.isfinite(score) else None,
                            "predicted": _predicted_summary(logits[row], list(dataset.classes))})
            if predictions_dir is not None:
                entries[-1]["prediction"] = str(write_prediction(predictions_dir, Path(image), logits[row]))
            if maps is not None:
                name = heatmap_name(image, sample_id, names)
                score_text = f"score {score:.4g}" if np.isfinite(score) else "chosen jointly"
                write_heatmap_figure(heat_dir / name, dataset.read_image(sample_id), maps[row],
                                     f"rank {rank}: {Path(name).stem} ({type(scorer).__name__}, {score_text})",
                                     scorer.pixel_map_name)
    return entries


def _region_labels(mode: RunMode, saved: Optional[dict], pool: ActivePool, scorer, unit: Optional[str]):
    """The run's region labels in region mode (else ``None``), checking ``unit`` and the scorer."""
    if not mode.regions:
        if unit not in (None, "images"):
            raise InvalidValue(f"--unit {unit} needs dataset.regions in the config; without it select.py "
                               f"selects whole images (--unit images)")
        return None
    if saved is None:
        raise InvalidValue("region selection (dataset.regions) needs an annotation run: select with --state")
    check_scores_regions(scorer)
    if unit == "images":
        raise InvalidValue("with dataset.regions, --unit is regions, clicks or pixels")
    return restored_regions(saved, pool)


def _record_pending(folder: RunFolder, saved: dict, pool: ActivePool, ids: np.ndarray, step: int,
                    regions=None) -> None:
    """Records ``ids`` in the run's state as annotation step ``step + 1``, pending annotation.

    With ``regions``, the images were recorded there (some of their regions); the pool keeps them unlabelled.
    """
    if regions is None:
        pool.label(ids, step + 1)
    else:
        saved["regions"] = regions.state_dict()
    saved["pool"] = pool.state_dict()
    saved["records"][-1]["selected_ids"] = ids.tolist()
    folder.write_state(saved)
    write_metrics(folder.metrics_path, saved["records"])
    logger.info("recorded %d images as annotation step %d (pending annotation) in %s", len(ids), step + 1,
                folder.state_path)
