"""protocol.budget.first_steps: smaller (or larger) first selections, then per_step."""
import pytest
from helpers.region_runs import CONFIG, options

from segal.apis import run_experiment
from segal.config import load_config
from segal.data.costs import Budget
from segal.errors import SegalError

SMALL = {"dataset.num_train": 24, "dataset.num_val": 4}


def test_each_selection_buys_its_amount_then_per_step():
    budget = Budget.from_config(dict(unit="pixels", per_step=8192, first_steps=[2048, 4096]))
    assert budget.amounts(5) == [2048, 4096, 8192, 8192, 8192]
    assert budget.of_selection(2).per_step == 4096 and budget.of_selection(3) is budget
    assert Budget.from_config(dict(unit="regions", per_step=12)).amounts(2) == [12, 12]


@pytest.mark.parametrize("budget, named", [
    (dict(unit="images", per_step=4, first_steps=[2]), "first_steps needs unit"),
    (dict(unit="pixels", per_step=8192, first_steps=[0]), "first_steps[0] must be an integer >= 1"),
    (dict(unit="pixels", per_step=8192, first_steps=2048), "must be a list"),
    (dict(unit="pixels", per_step=8192, steps=[1]), "protocol.budget must be dict"),
])
def test_a_bad_schedule_is_refused_by_name(budget, named):
    with pytest.raises(SegalError, match=named.replace("[", r"\[").replace("]", r"\]")):
        Budget.from_config(budget)


def test_a_region_run_buys_the_scheduled_amounts(tmp_path):
    cfg = options(tmp_path / "data", **SMALL, **{"protocol.budget": dict(unit="regions", per_step=12, first_steps=[4]),
                                                 "train.max_epochs": 1})
    records = run_experiment(load_config(CONFIG, cfg), tmp_path / "run")
    assert [len(r["selected_regions"]) for r in records[:-1]] == [4, 12]
    assert records[2]["labelled_regions"] - records[0]["labelled_regions"] == 16


def test_a_scheduled_pixel_budget_below_one_region_is_refused_before_anything_is_written(tmp_path):
    cfg = options(tmp_path / "data", **SMALL, **{"protocol.budget": dict(unit="pixels", per_step=8192,
                                                                         first_steps=[100])})
    with pytest.raises(SegalError, match=r"first_steps\[0\]=100 pixels is less than one region"):
        run_experiment(load_config(CONFIG, cfg), tmp_path / "run")
    assert not (tmp_path / "run").exists()
