"""The paper's criterion (eq. 3, "Ours") and its first-order form (eq. 10, "Ours-app").

Both treat the model's prediction on a pool sample as its label and ask how
learning from it would change the loss on the holdout set, touching only the
probed head (``model.head``) on cached trunk features.
"""
import warnings
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jvp, vmap

from ..errors import InvalidValue
from ..registry import SCORERS
from ..utils.distributed import gather_arrays, shard
from ..utils.seeding import derive_seed
from .base import Scorer, ScoringContext, mean_over_elements
from .head_delta import DeltaChain, UnsupportedHead, cross_entropy_change
from .head_probe import HeadProbe, check_probe_settings
from .holdout_pixels import HoldoutRowBands
from .linear_head import holdout_loss_changes
from .region_means import sample_regions
from .regions import RegionScores

REDUCTIONS = ("mean", "rise")
METHODS = ("auto", "vmap")


def holdout_chunks(count: int, chunk: Optional[int]):
    """Slices over ``count`` holdout samples, ``chunk`` at a time (all at once for ``None``)."""
    step = count if not chunk else chunk
    return [slice(start, start + step) for start in range(0, count, max(step, 1))]


@SCORERS.register_module()
class HoldoutLossChange(Scorer):
    """The paper's criterion S(x) = l_v(theta_x) - l_v(theta) (eq. 2-3).

    For each pool sample, its predicted label is taken as the truth and
    ``steps`` SGD steps with learning rate ``lr`` are taken on the head from the
    current weights; the score is how much the holdout loss rises. All pool
    samples of a batch are updated at once with ``torch.func.vmap``. Loss
    changes are taken per holdout element (sample or pixel) before any sum,
    never as a float32 difference of two losses: a linear head has a closed
    form (:mod:`.linear_head`), other heads are evaluated in delta form
    (:mod:`.head_delta`). They are reduced in float64.

    Args:
        steps: SGD iterations per pool sample (the paper: 3).
        lr: SGD learning rate (the paper: 1e-3 for the MLP, 1e-4 for ResNet).
        reduction: ``'mean'`` over holdout elements, or ``'rise'``: the mean over
            the holdout elements whose loss rose (the paper's segmentation
            variant; a sample that raises no loss scores 0). ``None`` picks
            ``'mean'`` for classification and ``'rise'`` for segmentation.
        chunk_size: Pool samples updated at once; ``None``: the whole batch.
        holdout_batch: Holdout samples evaluated at once per pool sample;
            ``None``: all. Together with ``chunk_size`` this bounds memory at
            ``chunk_size * holdout_batch`` head outputs, plus the head's
            activations for ``holdout_batch`` samples.
        method: ``'auto'`` uses the closed form of :mod:`.linear_head` when the
            head is one ``nn.Linear`` (classifiers) and the vmapped updates
            otherwise; ``'vmap'`` forces the general path. Both are exact.
        holdout_pixels: Segmentation only. ``None`` (default): every holdout
            pixel counts. A fraction in ``(0, 1]``: the holdout loss is taken
            on about that fraction of each holdout image's pixels, as whole
            rows drawn at random once per step, and the head runs only on the
            thin feature bands those rows need (:mod:`.holdout_pixels`). The
            losses at those pixels are exact; fewer pixels make the score
            cheaper and noisier.
        precision: ``'fast'`` (default) computes the trunk features in the
            training precision; the head's SGD steps and the loss changes stay
            float32 in the exact delta form either way. ``'exact'``: float32 trunk.
        shortlist: Region mode only: how many of the best regions by Ours-app
            (the first-order form, one pass) are re-scored exactly; they are
            chosen among before any other region (:meth:`rerank_regions`).
    """

    needs_labelled_data = True

    def __init__(self, steps: int = 3, lr: float = 1e-3, reduction: Optional[str] = None,
                 chunk_size: Optional[int] = None, holdout_batch: Optional[int] = None, method: str = "auto",
                 holdout_pixels: Optional[float] = None, precision: str = "fast", shortlist: int = 200):
        super().__init__(precision)
        if not isinstance(shortlist, int) or shortlist < 1:
            raise InvalidValue(f"scorer.shortlist must be an integer >= 1, got {shortlist!r}")
        self.shortlist = shortlist
        check_probe_settings(steps, lr)
        if reduction not in (None,) + REDUCTIONS:
            raise InvalidValue(f"scorer.reduction must be one of {REDUCTIONS} or None, got {reduction!r}")
        if method not in METHODS:
            raise InvalidValue(f"scorer.method must be one of {METHODS}, got {method!r}")
        if holdout_pixels is not None and not 0 < holdout_pixels <= 1:
            raise InvalidValue(f"scorer.holdout_pixels must be a fraction in (0, 1] or None, got {holdout_pixels}")
        self.steps, self.lr, self.reduction, self.method = steps, lr, reduction, method
        self.chunk_size, self.holdout_batch, self.holdout_pixels = chunk_size, holdout_batch, holdout_pixels

    @property
    def closed_form(self) -> bool:
        """Whether the step prepared last scores in closed form (a linear head, ``method='auto'``), not by vmap."""
        return self._closed_form

    def prepare(self, ctx: ScoringContext) -> None:
        self.probe = HeadProbe(ctx.model.head, ctx.ignore_index)
        self.holdout_z, self.holdout_y = ctx.labelled_features(ctx.pool.holdout_ids, self.precision)
        self.chunks = holdout_chunks(len(self.holdout_y), self.holdout_batch)
        self.bands = None
        if self.holdout_pixels is not None:
            if self.holdout_y.ndim != 3:
                raise InvalidValue("scorer.holdout_pixels applies to segmentation only; remove it for classification")
            rng = np.random.default_rng(derive_seed(ctx.seed, 0, "holdout-pixels"))
            self.bands = HoldoutRowBands(ctx.model.head, self.probe.buffers, self.holdout_z, self.holdout_y,
                                         self.holdout_pixels, rng, self.probe.ignore_index)
        self._rise = (self.reduction or ("mean" if self.holdout_y.ndim == 1 else "rise")) == "rise"
        self._closed_form = (self.method == "auto" and isinstance(ctx.model.head, nn.Linear)
                             and bool(self.probe.valid(self.holdout_y).all()))
        with torch.no_grad():
            if self._closed_form:
                self.holdout_probs = torch.softmax(ctx.model.head(self.holdout_z).double(), dim=1)
            else:
                self.chain = self._delta_chain()

    def _view(self, chunk: slice):
        """Inputs, targets and output map of the holdout images in ``chunk``: the full head's, or the row bands'."""
        if self.bands is None:
            return self.holdout_z[chunk], self.holdout_y[chunk], lambda out: out
        rows = self.bands.band_slice(chunk)
        return self.bands.bands[rows], self.bands.targets[rows], lambda low: self.bands.interpolate(low, rows)

    def _module(self) -> nn.Module:
        return self.probe.head if self.bands is None else self.bands.body

    def _delta_chain(self) -> Optional[DeltaChain]:
        """The head as a :class:`DeltaChain`, checked against its own forward; ``None`` if it is no chain."""
        params, buffers = self.probe.params, self.probe.buffers
        try:
            chain = DeltaChain(self._module())
            inputs = self._view(slice(0, 1))[0]
            expected = functional_call(self._module(), (params, buffers), (inputs,))
            if not torch.allclose(chain.forward(params, buffers, inputs)[-1], expected, rtol=1e-4, atol=1e-5):
                raise UnsupportedHead("its layers, run one after another, do not give its output")
            return chain
        except UnsupportedHead as error:
            warnings.warn(f"HoldoutLossChange: the head is evaluated twice and the losses subtracted, "
                          f"which keeps fewer digits of small changes in float32: {error}", stacklevel=2)
            return None

    def _losses(self, params, chunk: slice) -> torch.Tensor:
        """Loss per holdout element of ``chunk`` at ``params`` (the difference form, for heads that are no chain)."""
        inputs, targets, post = self._view(chunk)
        logits = post(functional_call(self._module(), (params, self.probe.buffers), (inputs,)))
        return F.cross_entropy(logits, targets, reduction="none", ignore_index=self.probe.ignore_index)

    def _change_function(self, chunk: slice):
        """The holdout elements of ``chunk`` that count, and ``deltas -> [b, n, ...]`` float64: their loss
        change per parameter change.

        What does not depend on the pool sample (the head's activations on the
        holdout, its probabilities) is computed here, once per batch and chunk.
        """
        params, buffers = self.probe.params, self.probe.buffers
        inputs, targets, post = self._view(chunk)
        valid = self.probe.valid(targets)
        if self.chain is None:
            before = self._losses(params, chunk).double()
            return valid, lambda deltas: vmap(
                lambda d: self._losses({k: params[k] + d[k] for k in d}, chunk))(deltas).double() - before
        values = self.chain.forward(params, buffers, inputs)
        probs = torch.softmax(post(values[-1]), dim=1)

        def changes(deltas):
            logit_changes = vmap(lambda d: post(self.chain.change(params, d, buffers, values)))(deltas)
            return cross_entropy_change(probs, logit_changes, targets, self.probe.ignore_index).double()
        return valid, changes

    @torch.no_grad()
    def score(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        ctx.model.eval()
        z = ctx.trunk(batch["inputs"], self.precision)
        if self._closed_form:
            diff = holdout_loss_changes(ctx.model.head, z, self.holdout_z, self.holdout_y, self.holdout_probs,
                                        self.steps, self.lr)  # [B, Nv]
            counted = diff > 0 if self._rise else torch.ones_like(diff, dtype=torch.bool)
            return (diff * counted).sum(1) / counted.sum(1).clamp(min=1)
        pseudo = self.probe.logits(self.probe.params, z).argmax(1)
        deltas = vmap(lambda zi, yi: self.probe.sgd_delta(zi, yi, self.steps, self.lr),
                      chunk_size=self.chunk_size)(z, pseudo)
        return self._holdout_changes(deltas, len(z), z.device)

    def _holdout_changes(self, deltas, count: int, device: torch.device) -> torch.Tensor:
        """``[count]`` float64 scores of ``count`` head updates (``deltas``: each parameter's ``[count, ...]``)."""
        total = torch.zeros(count, dtype=torch.float64, device=device)
        counted_elements = torch.zeros_like(total)
        step = self.chunk_size or count
        for chunk in self.chunks:
            valid, changes = self._change_function(chunk)
            for start in range(0, count, step):
                rows = slice(start, start + step)
                diff = changes({k: d[rows] for k, d in deltas.items()})  # [b, n, ...]
                counted = (valid & (diff > 0)) if self._rise else valid.expand_as(diff)
                total[rows] += (diff * counted).flatten(1).sum(1)
                counted_elements[rows] += counted.flatten(1).sum(1)
        return total / counted_elements.clamp(min=1)

    region_score_name = "Ours-app, its shortlist re-ranked by the exact holdout-loss rise"

    def region_pass(self) -> Scorer:
        """Regions are scored first by Ours-app; :meth:`rerank_regions` re-scores its shortlist exactly."""
        return HoldoutLossChangeApprox(holdout_batch=self.holdout_batch, precision=self.precision)

    def rerank_regions(self, ctx: ScoringContext, scores, available: np.ndarray):
        """The exact criterion for the ``shortlist`` best available regions of Ours-app; they rank first.

        A region's update takes ``steps`` SGD steps on its own pseudo-labelled
        pixels (the mean loss over them); its score is the holdout-loss change
        reduced as for an image. Under torch.distributed the shortlisted images
        are sharded over the ranks.
        """
        order = scores.order()
        positions = order[available[order]][: self.shortlist]
        images, regions = scores.rows
        image_ids = np.unique(images[positions])
        self.prepare(ctx)
        local = shard(image_ids)
        exact, done = [], []
        for batch in ctx.batches(local, desc=f"re-score {len(positions)} regions exactly"):
            z = ctx.trunk(batch["inputs"], self.precision)
            pseudo = self.probe.logits(self.probe.params, z).argmax(1)  # [B, H, W]
            for zi, yi, image in zip(z, pseudo, batch["id"].tolist()):
                mine = positions[images[positions] == image]
                exact.append(self._region_changes(ctx, zi, yi, image, regions[mine]))
                done.append(mine)
        done = gather_arrays(np.concatenate(done) if done else np.zeros(0, dtype=np.int64))
        values = gather_arrays(np.concatenate(exact) if exact else np.zeros(0))
        keep = np.isfinite(values)  # regions without a pixel at the head's resolution keep their Ours-app score
        new_scores, tier = scores.scores.copy(), scores.tier.copy()
        new_scores[done[keep]], tier[done[keep]] = values[keep], 1
        return RegionScores(scores.image_ids, scores.counts, new_scores, tier)

    @torch.no_grad()
    def _region_changes(self, ctx: ScoringContext, z: torch.Tensor, pseudo: torch.Tensor, image: int,
                        regions: np.ndarray) -> np.ndarray:
        """``[m]`` exact scores of ``regions`` of one image (NaN for a region without a pixel at ``pseudo``'s size)."""
        region_map = torch.from_numpy(sample_regions(ctx.dataset.region_map(image), pseudo.shape)).to(pseudo.device)
        wanted = torch.from_numpy(regions).to(pseudo.device)
        inside = region_map.unsqueeze(0) == wanted[:, None, None]  # [m, H, W]
        labels = torch.where(inside, pseudo.unsqueeze(0), torch.full_like(pseudo, -100).unsqueeze(0))
        deltas = vmap(lambda y: self.probe.sgd_delta(z, y, self.steps, self.lr), chunk_size=self.chunk_size)(labels)
        values = self._holdout_changes(deltas, len(regions), z.device).cpu().numpy()
        return np.where(inside.flatten(1).any(1).cpu().numpy(), values, np.nan)


@SCORERS.register_module()
class HoldoutLossChangeApprox(Scorer):
    """The first-order criterion S_a(x) = -grad l_v(theta) . grad l(x, y_hat; theta) (eq. 10).

    The holdout gradient (of the mean holdout loss) is computed once per step.
    A pool sample's score is then minus the directional derivative of its
    pseudo-label loss along that gradient: one forward-mode ``torch.func.jvp``
    per batch gives every sample's score, without per-sample gradients.

    Args:
        holdout_batch: Holdout samples per pass while computing the holdout
            gradient; ``None``: all at once.
        precision: ``'fast'`` or ``'exact'`` trunk features (see :class:`~segal.scorers.base.Scorer`).
    """

    pixel_map_name = "contribution to -grad(holdout loss) . grad(pseudo-label loss)"

    needs_labelled_data = True

    def __init__(self, holdout_batch: Optional[int] = None, precision: str = "fast"):
        super().__init__(precision)
        self.holdout_batch = holdout_batch

    def prepare(self, ctx: ScoringContext) -> None:
        self.probe = HeadProbe(ctx.model.head, ctx.ignore_index)
        holdout_z, holdout_y = ctx.labelled_features(ctx.pool.holdout_ids, self.precision)
        params = {k: v.clone().requires_grad_(True) for k, v in self.probe.params.items()}
        total = {k: torch.zeros_like(v) for k, v in params.items()}
        count = int(self.probe.valid(holdout_y).sum())
        with torch.enable_grad():
            for chunk in holdout_chunks(len(holdout_y), self.holdout_batch):
                loss_sum = self.probe.element_losses(params, holdout_z[chunk], holdout_y[chunk]).sum()
                for k, g in zip(params, torch.autograd.grad(loss_sum, list(params.values()))):
                    total[k] += g
        self.holdout_grad = {k: g / max(count, 1) for k, g in total.items()}

    @torch.no_grad()
    def score(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        return mean_over_elements(self.pixel_map(ctx, batch))

    @torch.no_grad()
    def pixel_map(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        """Each element's contribution ``-grad l_v . grad l(x_p, y_hat_p)``: ``[B]`` or ``[B, H, W]``.

        Averaged over an image's pixels it is the image's score.
        """
        ctx.model.eval()
        z = ctx.trunk(batch["inputs"], self.precision)
        pseudo = self.probe.logits(self.probe.params, z).argmax(1)

        def element_losses(params):  # pseudo-label loss per sample or pixel
            return F.cross_entropy(self.probe.logits(params, z), pseudo, reduction="none")

        with warnings.catch_warnings():  # torch's own forward-mode code scripts a helper on first use
            warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
            _, along_holdout_grad = jvp(element_losses, (self.probe.params,), (self.holdout_grad,))
        return -along_holdout_grad.double()
