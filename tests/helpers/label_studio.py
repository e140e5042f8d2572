"""A real Label Studio server for the tests: started on a free localhost port, driven through its REST API.

The server runs from its own virtual environment (:mod:`helpers.tool_envs`),
with sqlite in a temporary data folder, local-file serving from the dataset
root, and an API token given at start-up.
"""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from helpers.tool_envs import tool_python

USER, PASSWORD, TOKEN = "annotator@segal.test", "segal-annotator-1", "segaltoken0123456789"
#: Seconds to wait for ``/health``; the server took about 150 s on a busy 2-core machine.
START_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LabelStudio:
    """A running server; :meth:`call` sends one API request and returns the decoded JSON (or raw bytes)."""

    def __init__(self, data_dir: Path, document_root: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"
        env = {**os.environ, "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
               "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
               "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
               "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false"}  # nothing leaves the machine
        command = [str(tool_python("label-studio").parent / "label-studio"), "start", "--no-browser", "--port",
                   str(self.port), "--data-dir", str(data_dir), "--username", USER, "--password", PASSWORD,
                   "--user-token", TOKEN]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Label Studio exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(2)
        self.stop()
        raise RuntimeError(f"Label Studio did not answer /health within {START_TIMEOUT} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def call(self, method: str, path: str, body=None, raw: bool = False):
        request = urllib.request.Request(
            self.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                data = answer.read()
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"{method} {path}: {err.code} {err.read()[:500]!r}") from None
        return data if raw else json.loads(data or b"null")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
