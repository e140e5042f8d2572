"""A real Label Studio server for the tests: started on a free localhost port, driven through its REST API.

The server runs from its own virtual environment (:mod:`helpers.tool_envs`),
with sqlite in a temporary data folder and local-file serving from the dataset
root. It authenticates API calls as a fresh install does (legacy tokens are
off since 1.22): the user logs in, creates a personal access token (a JWT
refresh token; *Account & Settings -> Personal Access Token* in the web UI),
exchanges it at ``POST /api/token/refresh/`` for an access token and sends
``Authorization: Bearer <access>``, refreshing it when it expires.
"""
import http.cookiejar
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional

import numpy as np
from cityscapesscripts.helpers.labels import name2label

from helpers.tool_envs import tool_python
from segal.annotation.brush_rle import decode_mask, encode_mask

USER, PASSWORD = "annotator@segal.test", "segal-annotator-1"
#: Seconds to wait for ``/health``; the server took about 150 s on a busy 2-core machine.
START_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LabelStudio:
    """A running server; :meth:`call` sends one API request and returns the decoded JSON (or raw bytes)."""

    def __init__(self, data_dir: Path, document_root: Path, env: Optional[dict] = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"
        env = {**os.environ, "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
               "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
               "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
               "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false", **(env or {})}  # nothing leaves the machine
        command = [str(tool_python("label-studio").parent / "label-studio"), "start", "--no-browser",
                   "--internal-host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(data_dir),
                   "--username", USER, "--password", PASSWORD]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        self._wait_until_up()
        self.personal_token = self._create_personal_token()
        self.access = None

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

    def _create_personal_token(self) -> str:
        """What a user does once in the web UI: log in, create a personal access token."""
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        browser.open(f"{self.url}/user/login/", timeout=60).read()
        csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf, "email": USER, "password": PASSWORD}).encode()
        browser.open(urllib.request.Request(f"{self.url}/user/login/", data=form,
                                            headers={"Referer": f"{self.url}/user/login/"}), timeout=60).read()
        csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
        created = browser.open(urllib.request.Request(
            f"{self.url}/api/token/", data=b"{}", method="POST",
            headers={"X-CSRFToken": csrf, "Referer": f"{self.url}/", "Content-Type": "application/json"}), timeout=60)
        return json.loads(created.read())["token"]

    def _refresh_access(self) -> None:
        """``POST /api/token/refresh/`` with the personal access token gives a short-lived access token."""
        request = urllib.request.Request(f"{self.url}/api/token/refresh/", method="POST",
                                         data=json.dumps({"refresh": self.personal_token}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            self.access = json.loads(answer.read())["access"]

    def call(self, method: str, path: str, body=None, raw: bool = False):
        if self.access is None:
            self._refresh_access()
        for attempt in range(2):
            request = urllib.request.Request(
                self.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {self.access}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as answer:
                    data = answer.read()
                break
            except urllib.error.HTTPError as err:
                if err.code == 401 and attempt == 0:  # the access token expired: exchange the PAT again
                    self._refresh_access()
                    continue
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


def layers_of(results):
    """``(class name, [H, W] bool)`` of each brush result of the ``label`` control."""
    return [(r["value"]["brushlabels"][0], decode_mask(r["value"]["rle"], r["original_height"], r["original_width"]))
            for r in results if r["from_name"] == "label"]


def brush(name, mask):
    """A brush result painting ``mask`` as class ``name``, as Label Studio's editor saves it."""
    height, width = mask.shape
    return {"from_name": "label", "to_name": "image", "type": "brushlabels", "original_width": width,
            "original_height": height, "image_rotation": 0,
            "value": {"format": "rle", "rle": encode_mask(mask.astype(np.uint8) * 255), "brushlabels": [name]}}


def label_ids(layers):
    """The Cityscapes label ids that ``layers`` give, later over earlier; 0 where none paints."""
    truth = np.zeros(layers[0][1].shape, np.uint8)
    for name, mask in layers:
        truth[mask] = name2label[name].id
    return truth
