"""segal-ml-backend's options: listening beyond this machine needs basic auth, given whole."""
import pytest

from segal.commands.ml_backend import PASSWORD_VARIABLE, USER_VARIABLE, credentials
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
