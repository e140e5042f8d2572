import pytest
import torch
from torch import nn

from segal.models import MLPClassifier, ResNet18Classifier


@pytest.mark.parametrize(
    "model, shape",
    [
        (MLPClassifier((1, 28, 28), 10, hidden=32), (4, 1, 28, 28)),
        (ResNet18Classifier((3, 32, 32), 10, dropout=0.2), (2, 3, 32, 32)),
        (ResNet18Classifier((1, 28, 28), 7), (2, 1, 28, 28)),
    ],
)
def test_head_of_trunk_equals_model(model, shape):
    torch.manual_seed(0)
    model.eval()
    x = torch.randn(shape)
    z = model.trunk(x)
    assert z.ndim == 2
    logits = model(x)
    assert logits.shape == (shape[0], model.head.out_features)
    torch.testing.assert_close(model.head(z), logits, rtol=0, atol=0)


@pytest.mark.parametrize("model", [MLPClassifier((1, 8, 8), 10), ResNet18Classifier((3, 32, 32), 10)])
def test_head_is_only_the_last_linear_layer(model):
    assert isinstance(model.head, nn.Linear)
    head_ids = {id(p) for p in model.head.parameters()}
    trunk_ids = {id(p) for p in model.trunk.parameters()}
    assert not head_ids & trunk_ids
    assert head_ids | trunk_ids == {id(p) for p in model.parameters()}


def test_mlp_has_dropout_for_mc_dropout():
    model = MLPClassifier((1, 8, 8), 10, dropout=0.5).train()
    x = torch.randn(8, 1, 8, 8)
    assert not torch.equal(model(x), model(x)), "dropout must be active in train mode"
    model.eval()
    assert torch.equal(model(x), model(x))


def test_resnet_keeps_spatial_resolution_for_small_inputs():
    model = ResNet18Classifier((3, 32, 32), 10).eval()
    stem = model.trunk[0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
