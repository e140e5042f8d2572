"""The Python API example of docs/api.md runs as written, and its scores are the tools' scores."""
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from segal.api import TorchDataset, score_pool, split_model
from segal.errors import InvalidValue

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_documented_example_runs_as_written(tmp_path, monkeypatch, capsys):
    page = (REPO / "docs/api.md").read_text()
    code = page.split("<!-- api-example:start -->", 1)[1].split("<!-- api-example:end -->", 1)[0]
    code = code.split("```python", 1)[1].split("```", 1)[0]
    (tmp_path / "example.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(tmp_path / "example.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Ours' 5 best candidates:" in out and "segmentation scores: (30,)" in out
    assert (tmp_path / "work_dirs/api_example/metrics.jsonl").is_file()
    assert "[(50, " in out and "(90, " in out  # 50 initial labels, two steps of 20


def _model():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("flatten", nn.Flatten())
    model.add_module("fc", nn.Linear(12, 3))
    return model


def test_split_model_refuses_a_head_that_is_not_applied_last():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.fc = nn.Linear(12, 6), nn.Linear(6, 3)

        def forward(self, x):
            return 2 * self.fc(self.body(x.flatten(1)))  # something after the named head

    with pytest.raises(InvalidValue, match="head \\['fc'\\] is not what the model applies last"):
        split_model(Scaled(), head=["fc"], example=torch.rand(2, 1, 3, 4))
    with pytest.raises(InvalidValue, match="'classifier'\\] is not a module of the model"):
        split_model(_model(), head=["classifier"])


def test_score_pool_matches_the_entropy_of_the_models_own_predictions():
    images = torch.rand(30, 1, 3, 4)
    data = TorchDataset(list(zip(images, [i % 3 for i in range(30)])), classes=["a", "b", "c"])
    model = split_model(_model(), head=["fc"], example=images[:2])
    scores = score_pool(model, data, "Entropy", pool_ids=range(10, 30), device="cpu")
    with torch.no_grad():
        probs = torch.softmax(model(images[10:30]).double(), 1)
    expected = -(probs * probs.log()).sum(1).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    with pytest.raises(InvalidValue, match="Coreset selects a batch jointly"):
        score_pool(model, data, "Coreset", pool_ids=range(10, 30), labelled_ids=range(10), device="cpu")
