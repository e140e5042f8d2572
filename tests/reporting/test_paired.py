"""Paired differences across seeds against hand-computed values, and which settings are compared."""
import math

import pytest

from segal.reporting.paired import comparison_pairs, format_difference, paired_difference


def test_paired_difference_uses_shared_seeds_only():
    result = paired_difference({0: 0.9, 1: 0.8, 2: 0.7, 5: 1.0}, {0: 0.85, 1: 0.82, 2: 0.6, 3: 0.5})
    diffs = [0.05, -0.02, 0.1]
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    assert result["n"] == 3 and result["wins"] == 2
    assert result["mean"] == pytest.approx(mean) and result["se"] == pytest.approx(sd / math.sqrt(3))
    assert result["within_2se"] is (abs(mean) <= 2 * sd / math.sqrt(3))


def test_a_clear_gap_is_not_within_two_standard_errors_and_one_seed_has_no_error():
    clear = paired_difference({s: 1.0 + 0.01 * s for s in range(5)}, {s: 0.5 for s in range(5)})
    assert clear["within_2se"] is False and clear["wins"] == 5
    single = paired_difference({0: 1.0, 1: None}, {0: 0.5, 1: 0.2})
    assert single["n"] == 1 and math.isnan(single["se"]) and single["within_2se"] is None
    assert format_difference(single) == "+0.5000 ± n/a (1/1)"
    assert format_difference(paired_difference({}, {})) == "—"


def test_ours_family_is_compared_with_plain_and_matching_settings_else_everything_with_random():
    names = ["Random", "Entropy", "HoldoutLossChange", "HoldoutLossChange (lr=0.1)", "Entropy (lr=0.1)",
             "Random (lr=0.5)"]
    scorer_of = {n: n.split(" (")[0] for n in names}
    pairs = set(comparison_pairs(names, scorer_of))
    assert {("HoldoutLossChange", "Random"), ("HoldoutLossChange", "Entropy"),
            ("HoldoutLossChange", "HoldoutLossChange (lr=0.1)")} <= pairs
    assert ("HoldoutLossChange (lr=0.1)", "Entropy (lr=0.1)") in pairs, "the same other settings"
    assert ("HoldoutLossChange (lr=0.1)", "Random") in pairs, "a plain baseline"
    assert ("HoldoutLossChange (lr=0.1)", "Random (lr=0.5)") not in pairs, "another setting of another scorer"
    assert ("HoldoutLossChange", "Random (lr=0.5)") not in pairs
    assert comparison_pairs(["Random", "Entropy", "BALD"], {"Random": "Random", "Entropy": "Entropy", "BALD": "BALD"}) \
        == [("Entropy", "Random"), ("BALD", "Random")]
    ablation = ["Random (h=1)", "Random (h=2)", "Entropy (h=1)", "Entropy (h=2)"]
    assert comparison_pairs(ablation, {n: n.split(" (")[0] for n in ablation}) == [
        ("Entropy (h=1)", "Random (h=1)"), ("Entropy (h=2)", "Random (h=2)")]
