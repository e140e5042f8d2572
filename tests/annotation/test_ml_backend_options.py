"""segal-ml-backend's options: listening beyond this machine needs basic auth, given whole; the score scale."""
import argparse

import pytest

from segal.commands.ml_backend import PASSWORD_VARIABLE, USER_VARIABLE, build_parser, credentials, score_scale
from segal.errors import InvalidValue


def test_listening_beyond_this_machine_needs_a_user_and_a_password(monkeypatch):
    monkeypatch.delenv(USER_VARIABLE, raising=False)
    monkeypatch.delenv(PASSWORD_VARIABLE, raising=False)
    assert credentials("127.0.0.1") is None
    with pytest.raises(InvalidValue, match=f"--host 0.0.0.0 listens beyond this machine: set {USER_VARIABLE}"):
        credentials("0.0.0.0")
    monkeypatch.setenv(USER_VARIABLE, "segal")
    with pytest.raises(InvalidValue, match="set both"):
        credentials("0.0.0.0")
    monkeypatch.setenv(PASSWORD_VARIABLE, "s3cret")
    assert credentials("0.0.0.0") == ("segal", "s3cret") == credentials("127.0.0.1")


def test_a_score_scale_is_auto_or_a_positive_number(capsys):
    assert score_scale("auto") == "auto" and score_scale("1e3") == 1000.0
    for bad in ("0", "-2", "nan", "big"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"expected auto or a number above 0, got '{bad}'"):
            score_scale(bad)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["config.py", "work", "--score-scale", "0"])
    assert "--score-scale: expected auto or a number above 0, got '0'" in capsys.readouterr().err
