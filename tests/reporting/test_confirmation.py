"""Verdicts of the confirmation rule: a finding must lie beyond two SE, with the same sign, on both seed sets."""
import pytest

from segal.reporting.confirmation import confirm_pairs, count_verdicts, verdict
from segal.reporting.paired import paired_difference


def _diff(gap: float, noise: float, seeds=range(10)):
    """A paired difference whose per-seed gaps alternate around ``gap`` by ``noise``."""
    return paired_difference({s: gap + (noise if s % 2 else -noise) for s in seeds}, {s: 0.0 for s in seeds})


@pytest.mark.parametrize("first, second, expected", [
    ((1.0, 0.1), (0.8, 0.1), "confirmed"),
    ((1.0, 0.1), (0.0, 0.5), "not confirmed"),
    ((1.0, 0.1), (-1.0, 0.1), "not confirmed"),  # beyond two SE both times, but the other way round
    ((0.0, 0.5), (1.0, 0.1), "confirmation only"),
    ((0.1, 1.0), (-0.1, 1.0), "noise"),
])
def test_each_verdict(first, second, expected):
    assert verdict(_diff(*first), _diff(*second)) == expected


def test_no_standard_error_gives_no_verdict():
    single = paired_difference({0: 1.0}, {0: 0.0})
    assert verdict(single, _diff(1.0, 0.1)) is None


def test_pairs_are_recomputed_on_the_confirmation_settings_and_counted():
    def setting(finals):
        return {"per_seed": {s: {"final": v, "auc": v, "mistake_rate": {"1": v}} for s, v in finals.items()}}

    discovery = [{"setting": "Ours", "baseline": "Random", "final": _diff(0.1, 0.01), "auc": _diff(0.0, 0.5),
                  "mistake_rate": {"1": _diff(0.1, 0.01)}}]
    settings = {"Ours": setting({10: 0.9, 11: 0.8, 12: 0.85}), "Random": setting({10: 0.5, 11: 0.52, 12: 0.86})}
    confirmation = confirm_pairs(discovery, settings, [12, 10, 11])
    (row,) = confirmation["rows"]
    assert confirmation["seeds"] == [10, 11, 12]
    assert row["final"]["confirmation"]["mean"] == pytest.approx((0.4 + 0.28 - 0.01) / 3)
    assert row["final"]["verdict"] == "not confirmed"  # the third seed's loss widens the SE past the mean / 2
    assert count_verdicts(confirmation) == {"confirmed": 0, "not confirmed": 2, "confirmation only": 0, "noise": 1}
    with pytest.raises(Exception, match=r"settings \['Random'\] have no runs on the confirmation seeds"):
        confirm_pairs(discovery, {"Ours": settings["Ours"]}, [10])
