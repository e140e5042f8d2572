"""One selection implementation: the loop and tools/select.py reach scores and budgets only through segal.selection."""
import ast
from pathlib import Path

import pytest

from segal.errors import InvalidValue
from segal.registry import SCORERS
from segal.selection.checks import check_scores_regions, region_scorers

SEGAL = Path(__file__).resolve().parents[2] / "segal"
#: What turns scores into a selection; outside segal/scorers/ (where they are defined) only segal/selection/ calls them.
SELECTING = {"rank_regions", "choose_regions", "fill_budget", "select", "select_from_scores"}


def selecting_calls(path: Path) -> list:
    calls = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name in SELECTING and not (isinstance(node.func, ast.Attribute) and name == "select"
                                          and getattr(node.func.value, "id", "") not in ("scorer", "self")):
                calls.append(f"{path.parent.name}/{path.name}:{node.lineno} {name}")
    return calls


def test_only_the_selection_package_turns_scores_into_a_selection():
    outside = [call for path in sorted(SEGAL.rglob("*.py"))
               if path.parent.name not in ("selection", "scorers") for call in selecting_calls(path)]
    assert not outside, "select through segal.selection: " + ", ".join(outside)


def test_the_check_sees_a_selection_made_elsewhere(tmp_path):
    fake = tmp_path / "segal" / "annotation"
    fake.mkdir(parents=True)
    (fake / "m.py").write_text("a = choose_regions(s, v, 3, 'regions', f)\nb = scorer.select(ctx, 4)\n"
                               "c = parser.select(x)\n")
    assert [c.split(" ")[1] for c in selecting_calls(fake / "m.py")] == ["choose_regions", "select"]


def test_the_region_scorers_are_those_whose_class_says_so():
    names = region_scorers()
    assert {"Random", "Entropy", "MCDropout", "BALD", "HoldoutLossChange", "HoldoutLossChangeApprox"} <= set(names)
    assert not {"Coreset", "BADGE", "ErrReduction"} & set(names)
    assert all(SCORERS.get(name).scores_regions for name in names)


def test_a_plugin_scorer_that_scores_regions_is_offered_by_name():
    base = SCORERS.get("Entropy")

    class RegionWiseScorer(base):
        scores_regions = True

    class JointScorer(base):
        scores_regions = False

    SCORERS.register_module(name="RegionWiseScorerForTest", module=RegionWiseScorer)
    try:
        assert "RegionWiseScorerForTest" in region_scorers()
        with pytest.raises(InvalidValue, match="RegionWiseScorerForTest") as refused:
            check_scores_regions(JointScorer())
        assert "JointScorer chooses whole images" in str(refused.value)
    finally:
        SCORERS.module_dict.pop("RegionWiseScorerForTest")
