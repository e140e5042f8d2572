"""Scorers that choose a whole batch jointly: Coreset (greedy k-center) and BADGE.

Under torch.distributed the ranks compute the features of their shards of the
pool, gather them, and rank 0 selects; every rank receives its selection.
Both keep memory at O(N * D): distances to the chosen centers are updated
incrementally, never as an N x N matrix, and BADGE's gradient embeddings stay
factored as ``(p - onehot) [N, C]`` and ``z [N, D]``, never as ``[N, C * D]``.
"""
from typing import Tuple

import numpy as np
import torch

from ..errors import InvalidValue
from ..registry import SCORERS
from ..utils.distributed import gather_rows, run_on_main, shard
from .base import Scorer, ScoringContext, Selection, check_budget
from .checks import check_finite_scores


def check_rule(scorer: str, rule: str) -> None:
    """Joint selectors choose their batch as a whole: only the ``'top'`` rule (their own choice) applies."""
    if rule != "top":
        raise InvalidValue(f"loop.selection={rule!r} needs a scorer that scores each sample; {scorer} chooses its "
                         f"batch jointly (use loop.selection='top')")


def pooled(z: torch.Tensor) -> torch.Tensor:
    """``[N, D, ...] -> [N, D]``: global average over spatial dims; identity for ``[N, D]``."""
    return z.flatten(2).mean(2) if z.ndim > 2 else z


def squared_distances_to(points: torch.Tensor, centers: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """``[N]`` squared Euclidean distance from each point to its nearest center (inf without centers).

    Works in ``chunk x chunk`` blocks, in float64.
    """
    best = torch.full((len(points),), float("inf"), dtype=torch.float64, device=points.device)
    for i in range(0, len(points), chunk):
        p = points[i : i + chunk].double()
        p_sq = (p * p).sum(1, keepdim=True)
        for j in range(0, len(centers), chunk):
            c = centers[j : j + chunk].double()
            d = (p_sq + (c * c).sum(1).unsqueeze(0) - 2 * p @ c.T).clamp_min(0)
            best[i : i + chunk] = torch.minimum(best[i : i + chunk], d.min(1).values)
    return best


def greedy_k_center(points: torch.Tensor, centers: torch.Tensor, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Greedy k-center (Sener & Savarese): repeatedly takes the point farthest from every center.

    Each pick updates the nearest-center distances with one matrix-vector
    product (``|x - c|^2 = |x|^2 + |c|^2 - 2 x . c``): O(N D) time and O(N)
    extra memory per pick.

    Args:
        points: ``[N, D]`` candidate features.
        centers: ``[M, D]`` features of the points already covered (the labelled set).
        k: How many points to choose.

    Returns:
        ``(indices [k], distances [k])``: chosen rows of ``points`` in order, and
        each one's distance to its nearest center when it was chosen.
    """
    min_sq = squared_distances_to(points, centers)
    sq_norm = torch.cat([p.double().pow(2).sum(1) for p in points.split(4096)])
    chosen, radii = [], []
    for _ in range(k):
        i = int(torch.argmax(min_sq))
        chosen.append(i)
        radii.append(float(min_sq[i].clamp_min(0).sqrt()))
        new = (sq_norm + sq_norm[i] - 2 * (points @ points[i]).double()).clamp_min(0)
        min_sq = torch.minimum(min_sq, new)
        min_sq[chosen] = -1.0  # never chosen twice, even among duplicates
    return np.asarray(chosen, dtype=np.int64), np.asarray(radii)


@SCORERS.register_module()
class Coreset(Scorer):
    """Core-set selection by greedy k-center on trunk features, seeded with the labelled set.

    Segmentation trunk features are averaged over space first.
    """

    needs_labelled_data = True

    scores_each_sample = False
    scores_regions = False

    def select(self, ctx: ScoringContext, k: int, rule: str = "top") -> Selection:
        check_rule(type(self).__name__, rule)
        candidates = ctx.pool.candidate_ids()
        check_budget(k, len(candidates))
        points = pooled(ctx.trunk_features(candidates, self.precision))
        check_finite_scores("Coreset (trunk features)", candidates, points.double().norm(dim=1).cpu().numpy())
        centers = pooled(ctx.trunk_features(ctx.pool.training_ids(), self.precision))
        chosen, radii = run_on_main(lambda: greedy_k_center(points, centers, k))
        return Selection(ids=candidates[chosen], scores=radii)


def badge_factors(logits: torch.Tensor, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The two factors of BADGE's gradient embedding.

    The gradient of the pseudo-label cross-entropy with respect to the last
    linear layer's weight is ``outer(p - onehot(y_hat), z)``; it is kept as the
    pair ``(p - onehot(y_hat) [N, C], z [N, D])``.
    """
    probs = torch.softmax(logits.double(), dim=1)
    onehot = torch.zeros_like(probs).scatter_(1, probs.argmax(1, keepdim=True), 1.0)
    return probs - onehot, z.double()


def kmeans_pp_outer(a: torch.Tensor, z: torch.Tensor, k: int,
                    generator: torch.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """k-means++ seeding on the embeddings ``g_i = outer(a_i, z_i)`` without forming them.

    Uses ``|g_i - g_j|^2 = |a_i|^2 |z_i|^2 + |a_j|^2 |z_j|^2 - 2 (a_i . a_j)(z_i . z_j)``.
    The first center is the embedding of largest norm, as in BADGE; each next
    one is drawn with probability proportional to the squared distance to the
    nearest center chosen so far.

    Returns:
        ``(indices [k], squared distances at the time each was chosen [k])``.
    """
    sq_norm = (a * a).sum(1) * torch.cat([c.pow(2).sum(1) for c in z.split(4096)])
    chosen = [int(torch.argmax(sq_norm))]
    picked_d2 = [float(sq_norm[chosen[0]])]
    min_d2 = torch.full_like(sq_norm, float("inf"))
    for _ in range(1, k):
        c = chosen[-1]
        d2 = (sq_norm + sq_norm[c] - 2 * (a @ a[c]) * (z @ z[c])).clamp_min(0)
        min_d2 = torch.minimum(min_d2, d2)
        min_d2[chosen] = 0
        if min_d2.sum() > 0:
            weights = min_d2
        else:  # every point coincides with a center: draw uniformly among the rest
            weights = torch.ones_like(min_d2)
            weights[chosen] = 0
        nxt = int(torch.multinomial(weights.cpu(), 1, generator=generator))
        chosen.append(nxt)
        picked_d2.append(float(min_d2[nxt]))
    return np.asarray(chosen, dtype=np.int64), np.asarray(picked_d2)


@SCORERS.register_module()
class BADGE(Scorer):
    """BADGE (Ash et al.): k-means++ seeding on last-layer gradient embeddings with pseudo-labels.

    Needs a classifier head that is one linear layer on ``[N, D]`` trunk features.
    """

    scores_each_sample = False
    scores_regions = False

    def select(self, ctx: ScoringContext, k: int, rule: str = "top") -> Selection:
        check_rule(type(self).__name__, rule)
        candidates = ctx.pool.candidate_ids()
        check_budget(k, len(candidates))
        ctx.model.eval()
        local = shard(candidates)
        computed = local if len(local) else candidates[:1]  # an empty shard still needs the shapes
        factors_a, factors_z = [], []
        with torch.no_grad():
            for batch in ctx.batches(computed, desc="embed BADGE"):
                z = ctx.trunk(batch["inputs"], self.precision)
                if z.ndim != 2:
                    raise InvalidValue("BADGE needs [N, D] trunk features and a linear head; got features of shape "
                                     f"{tuple(z.shape)}")
                a, zz = badge_factors(ctx.model.head(z), z)
                factors_a.append(a)
                factors_z.append(zz)
        factors_a = gather_rows(torch.cat(factors_a)[: len(local)])
        factors_z = gather_rows(torch.cat(factors_z)[: len(local)])
        norms = (factors_a.norm(dim=1) * factors_z.norm(dim=1)).cpu().numpy()
        check_finite_scores("BADGE (gradient embeddings)", candidates, norms)
        generator = torch.Generator().manual_seed(ctx.seed)
        chosen, d2 = run_on_main(lambda: kmeans_pp_outer(factors_a, factors_z, k, generator))
        return Selection(ids=candidates[chosen], scores=d2)
