import copy

import pytest
import segmentation_models_pytorch as smp
import torch
from torch import nn

from segal.models import SegmentationModel


@pytest.mark.parametrize("arch", ["DeepLabV3Plus", "Unet", "FPN"])
def test_head_of_trunk_equals_the_smp_model(arch):
    torch.manual_seed(0)
    net = smp.create_model(arch, encoder_name="resnet18", encoder_weights=None, classes=7).eval()
    reference = copy.deepcopy(net)
    model = SegmentationModel.from_smp(net).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(model.head(model.trunk(x)), reference(x), rtol=0, atol=0)
        assert model(x).shape == (2, 7, 64, 96)


def test_deeplab_head_is_block2_and_the_segmentation_head():
    torch.manual_seed(0)
    net = smp.create_model("DeepLabV3Plus", encoder_name="resnet18", encoder_weights=None, classes=5)
    block2, seg_head = net.decoder.block2, net.segmentation_head
    model = SegmentationModel.from_smp(net)
    assert list(model.head) == [block2, seg_head]
    head_params = {id(p) for p in model.head.parameters()}
    assert head_params == {id(p) for p in list(block2.parameters()) + list(seg_head.parameters())}
    assert not head_params & {id(p) for p in model.trunk.parameters()}, "no layer is in both parts"


def test_unet_head_is_the_last_blocks_conv2_and_the_segmentation_head():
    model = SegmentationModel((3, 64, 64), 4, arch="Unet")
    convs = [m for m in model.head.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 2
    assert model.trunk(torch.randn(1, 3, 64, 64)).shape == (1, 16, 64, 64)


def test_dropout_sits_at_the_start_of_the_head():
    model = SegmentationModel((3, 64, 64), 4, dropout=0.2)
    assert isinstance(model.head[0], nn.Dropout2d) and model.head[0].p == 0.2


def test_config_options_and_errors():
    model = SegmentationModel((1, 32, 32), 3, arch="FPN", encoder_name="resnet18").eval()
    assert model(torch.randn(1, 1, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="model.arch 'PSPNet'"):
        SegmentationModel((3,), 3, arch="PSPNet")
    with pytest.raises(ValueError, match="divisible by 16"):
        SegmentationModel((3,), 3)(torch.randn(1, 3, 40, 64))
