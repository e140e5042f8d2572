"""Starting a model from local weights (``model.load_from``): a segal checkpoint, a full state dict, or an encoder's."""
from pathlib import Path

from torch import nn

from ..utils.io import load_torch_file
from .checkpoints import WeightsMismatch, verify_weights


def load_pretrained(model: nn.Module, path: str) -> str:
    """Loads the weights in ``path`` into ``model``, or into its segmentation encoder.

    Accepted: a segal checkpoint (``{'state_dict': ...}``), a state dict of the
    whole model, or a state dict of the encoder alone (e.g. ImageNet weights
    saved by ``data_prep/encoder_weights.py``; a classifier's ``fc.*`` is ignored).

    Returns:
        What was loaded: ``'model'`` or ``'encoder'``.

    Raises:
        FileNotFoundError: ``path`` does not exist; the message says how to make the file.
        WeightsMismatch: The tensors fit neither the model nor its encoder; the message counts what differs.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"model.load_from: {path} does not exist. Put the weights there, e.g. ImageNet encoder weights with "
            f"python data_prep/encoder_weights.py resnet18 {path} (on a machine with internet access)"
        )
    loaded = load_torch_file(path)
    verify_weights(loaded, Path(path))  # a segal checkpoint checks itself; other weights files carry no digest
    weights = loaded.get("state_dict", loaded)
    targets = {"model": model}
    encoder = getattr(getattr(model, "trunk", None), "encoder", None)
    if encoder is not None:
        targets["encoder"] = encoder
        weights_for_encoder = {k: v for k, v in weights.items() if not k.startswith("fc.")}
    for name, target in targets.items():
        candidate = weights if name == "model" else weights_for_encoder
        expected = target.state_dict()
        if set(candidate) == set(expected) and all(candidate[k].shape == expected[k].shape for k in expected):
            target.load_state_dict(candidate)
            return name
    expected = model.state_dict()
    fitting = sum(1 for k, v in weights.items() if k in expected and expected[k].shape == v.shape)
    raise WeightsMismatch(
        f"model.load_from: {path} holds {len(weights)} tensors, of which {fitting} fit the model's {len(expected)}"
        + (f" and none fit its encoder's {len(encoder.state_dict())}" if encoder is not None else "")
        + f"; e.g. the file has {sorted(weights)[:3]}, the model expects {sorted(expected)[:3]}"
    )
