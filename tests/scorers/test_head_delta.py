"""The delta form: a head's output change and the loss change keep float32's relative precision."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from segal.models import SegmentationModel
from segal.scorers.head_delta import DeltaChain, UnsupportedHead, chain_layers, cross_entropy_change
from segal.scorers.head_probe import HeadProbe


def small_change(params, scale, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {k: scale * torch.randn(p.shape, generator=gen, dtype=p.dtype) * p.abs().mean() for k, p in params.items()}


@pytest.mark.parametrize("arch", ["DeepLabV3Plus", "Unet", "FPN"])
def test_head_change_in_float32_matches_the_float64_difference(arch):
    torch.manual_seed(0)
    model = SegmentationModel((3,), 5, arch=arch, dropout=0.1).eval()
    with torch.no_grad():
        features = model.trunk(torch.randn(2, 3, 64, 64))
    probe = HeadProbe(model.head)
    delta = small_change(probe.params, 1e-6)

    def head64(params):
        params64 = {k: v.double() for k, v in params.items()}
        buffers64 = {k: v.double() if v.is_floating_point() else v for k, v in probe.buffers.items()}
        return functional_call(model.head.double(), (params64, buffers64), (features.double(),))

    with torch.no_grad():
        expected = head64({k: probe.params[k].double() + delta[k].double() for k in delta}) - head64(probe.params)
        model.float()
        chain = DeltaChain(model.head)
        values = chain.forward(probe.params, probe.buffers, features)
        change = chain.change(probe.params, delta, probe.buffers, values)
        subtracted = functional_call(model.head, ({k: probe.params[k] + delta[k] for k in delta}, probe.buffers),
                                     (features,)) - values[-1]
    scale = float(expected.abs().max())
    assert float((change.double() - expected).abs().max()) < 1e-4 * scale
    assert float((subtracted.double() - expected).abs().max()) > 1e-2 * scale, "float32 subtraction loses digits"
    torch.testing.assert_close(values[-1], model.head(features))


def test_cross_entropy_change_matches_float64():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 5, 6, generator=gen, dtype=torch.float64) * 3
    target = torch.randint(0, 4, (3, 5, 6), generator=gen)
    target[0, 0] = 255
    for scale in (1e-6, 1e-2, 5.0):  # the tanh form, and the expm1 fallback for large moves
        change = torch.randn(2, 3, 4, 5, 6, generator=gen, dtype=torch.float64) * scale
        expected = torch.stack([F.cross_entropy(logits + c, target, reduction="none", ignore_index=255)
                                - F.cross_entropy(logits, target, reduction="none", ignore_index=255) for c in change])
        fast = cross_entropy_change(torch.softmax(logits.float(), 1), change.float(), target, 255).double()
        np.testing.assert_allclose(fast, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max()))
        assert (fast[:, 0, 0] == 0).all(), "ignored pixels give 0"


def test_layers_without_a_delta_rule_are_named():
    head = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.GroupNorm(2, 4))
    with pytest.raises(UnsupportedHead, match=r"head.1 \(GroupNorm\)"):
        chain_layers(head)
