"""scorer.precision: 'fast' runs the trunk in the training precision; 'exact' ignores it; the rankings agree."""
import numpy as np
import pytest
import torch
from helpers.cityscapes import write_random_cityscapes
from helpers.scorers import city_pool
from scipy.stats import spearmanr

from segal.data import Cityscapes
from segal.models import SegmentationModel
from segal.scorers import BALD, Entropy, HoldoutLossChange, HoldoutLossChangeApprox, ScoringContext


@pytest.fixture(scope="module")
def contexts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes")
    write_random_cityscapes(root, {"train": 14, "val": 1}, height=32, width=64, seed=3)
    dataset = Cityscapes(str(root))
    torch.manual_seed(0)
    model = SegmentationModel((3,), 19, arch="FPN", dropout=0.2).eval()
    pool = city_pool(dataset, holdout=[1, 5], labelled=[0])

    def context(amp_dtype):
        return ScoringContext(model=model, dataset=dataset, pool=pool, device=torch.device("cpu"), step=0, seed=0,
                              batch_size=4, progress=False, amp_dtype=amp_dtype)
    return context(None), context(torch.bfloat16), model


SCORERS = [lambda p: Entropy(precision=p), lambda p: HoldoutLossChangeApprox(precision=p),
           lambda p: HoldoutLossChange(lr=1e-2, precision=p), lambda p: BALD(num_passes=6, precision=p)]


@pytest.mark.slow
@pytest.mark.parametrize("make", SCORERS, ids=["Entropy", "Approx", "HoldoutLossChange", "BALD"])
def test_fast_runs_the_trunk_in_bf16_and_ranks_as_exact(contexts, make):
    plain, bf16, model = contexts
    candidates = plain.pool.candidate_ids()
    trunk_dtypes = []
    hook = model.trunk.register_forward_hook(lambda module, args, out: trunk_dtypes.append(out.dtype))
    fast = make("fast").score_ids(bf16, candidates)
    hook.remove()
    assert set(trunk_dtypes) == {torch.bfloat16}, "the trunk ran under bf16 autocast"
    exact = make("exact").score_ids(plain, candidates)
    np.testing.assert_array_equal(make("exact").score_ids(bf16, candidates), exact), "'exact' ignores the amp dtype"
    assert np.isfinite(fast).all()
    assert spearmanr(fast, exact).statistic > 0.9


def test_fast_equals_exact_without_mixed_precision(contexts):
    plain, _, _ = contexts
    candidates = plain.pool.candidate_ids()
    fast = HoldoutLossChange(lr=1e-2).score_ids(plain, candidates)
    np.testing.assert_array_equal(fast, HoldoutLossChange(lr=1e-2, precision="exact").score_ids(plain, candidates))


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="scorer.precision"):
        Entropy(precision="half")
