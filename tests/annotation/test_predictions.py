"""The predicted label map the exports and the ML backend draw: torch's argmax, ties to the first class."""
import torch

from segal.annotation.predictions import first_argmax, predicted_label_map


def test_first_argmax_is_torch_s_argmax_ties_included():
    generator = torch.Generator().manual_seed(0)
    for classes in (1, 2, 19):
        tied = torch.randint(0, 3, (classes, 37, 53), generator=generator).float()  # many equal maxima
        for logits in (tied, torch.randn(classes, 37, 53, generator=generator)):
            assert torch.equal(first_argmax(logits).long(), logits.argmax(0))


def test_a_prediction_is_resized_to_the_image_before_its_argmax():
    logits = torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(1))
    predicted = predicted_label_map(logits, 20, 28)
    resized = torch.nn.functional.interpolate(logits[None], size=(20, 28), mode="bilinear", align_corners=False)[0]
    assert predicted.shape == (20, 28) and predicted.dtype.name == "uint8"
    assert (predicted == resized.argmax(0).numpy()).all()
    assert len(set(predicted.ravel().tolist())) > 1
