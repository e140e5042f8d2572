"""The parts of Label Studio's REST API that segal uses, over HTTP with the standard library.

Authentication follows what Label Studio 1.22 and later issue: a personal
access token (*Account & Settings -> Personal Access Token*, a JWT refresh
token) is exchanged at ``POST /api/token/refresh/`` for a short-lived access
token, sent as ``Authorization: Bearer``, and exchanged again when a call
answers 401. A token that is not a JWT is a legacy token and is sent as
``Authorization: Token`` (servers that still allow them).

The token is never written anywhere: not into a file, a log line, an error
message or the client's ``repr``.
"""
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterator, Optional

from ..errors import SegalError

#: Where the server's address and the token come from when no flag gives them.
URL_VARIABLE, TOKEN_VARIABLE = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"


class LabelStudioError(SegalError):
    """Label Studio refused a call, could not be reached, or answered something segal cannot read."""


class LabelStudioClient:
    """One Label Studio server, one user.

    Args:
        url: The server, e.g. ``http://127.0.0.1:8080``.
        token: A personal access token, or a legacy API token.
        timeout: Seconds to wait for one answer.
    """

    def __init__(self, url: str, token: str, timeout: float = 120):
        if not url.startswith(("http://", "https://")):
            raise LabelStudioError(f"the Label Studio URL must start with http:// or https://, got {url!r}")
        self.url, self._token, self.timeout = url.rstrip("/"), token.strip(), timeout
        self._access: Optional[str] = None
        self._legacy = self._token.count(".") != 2  # a JWT has three dot-separated parts

    @classmethod
    def from_environment(cls, url: Optional[str] = None, token: Optional[str] = None) -> "LabelStudioClient":
        """The client for ``--url``/``--token``, else ``$LABEL_STUDIO_URL``/``$LABEL_STUDIO_API_KEY``.

        Raises:
            LabelStudioError: Neither gives the URL or the token; the message names both.
        """
        url, token = url or os.environ.get(URL_VARIABLE), token or os.environ.get(TOKEN_VARIABLE)
        if not url:
            raise LabelStudioError(f"no Label Studio URL: pass --url or set {URL_VARIABLE}, e.g. "
                                   f"http://127.0.0.1:8080")
        if not token:
            raise LabelStudioError(f"no Label Studio token: set {TOKEN_VARIABLE} (or pass --token) to a personal "
                                   f"access token (Account & Settings -> Personal Access Token)")
        return cls(url, token)

    def __repr__(self) -> str:
        return f"LabelStudioClient({self.url!r})"

    def call(self, method: str, path: str, body=None, query: Optional[dict] = None):
        """Sends one request and returns its decoded JSON answer (``None`` for an empty one).

        Raises:
            LabelStudioError: The server cannot be reached, refuses the token, or answers an error; the message
                names the call and the server's reason, never the token.
        """
        address = self.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(2):
            request = urllib.request.Request(address, data=data, method=method, headers={
                "Authorization": self._authorization(), "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    raw = answer.read()
                break
            except urllib.error.HTTPError as err:
                if err.code == 401 and attempt == 0 and not self._legacy:  # the access token expired
                    self._access = None
                    continue
                raise LabelStudioError(f"Label Studio answered {method} {path} with {err.code}: "
                                       f"{_reason(err)}") from None
            except (urllib.error.URLError, OSError) as err:
                raise LabelStudioError(f"cannot reach Label Studio at {self.url} ({_reason(err)}); is it running, "
                                       f"and is --url / ${URL_VARIABLE} right?") from None
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError:
            raise LabelStudioError(f"Label Studio answered {method} {path} with something that is not JSON: "
                                   f"{raw[:200]!r}") from None

    def pages(self, path: str, key: str, query: Optional[dict] = None, page_size: int = 100) -> Iterator[dict]:
        """Every item of a paginated list, page after page (``key`` names the list in each page's answer)."""
        page = 1
        while True:
            answer = self.call("GET", path, query={**(query or {}), "page": page, "page_size": page_size})
            items = answer if isinstance(answer, list) else answer.get(key) or []
            yield from items
            if isinstance(answer, list) or len(items) < page_size or not answer.get("next", True):
                return
            page += 1

    def _authorization(self) -> str:
        if self._legacy:
            return f"Token {self._token}"
        if self._access is None:
            self._access = self._exchange()
        return f"Bearer {self._access}"

    def _exchange(self) -> str:
        """``POST /api/token/refresh/``: the personal access token gives an access token."""
        request = urllib.request.Request(f"{self.url}/api/token/refresh/", method="POST",
                                         data=json.dumps({"refresh": self._token}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())["access"]
        except urllib.error.HTTPError as err:
            raise LabelStudioError(f"Label Studio refused the token ({err.code}: {_reason(err)}); create a new "
                                   f"personal access token under Account & Settings and set "
                                   f"${TOKEN_VARIABLE}") from None
        except (urllib.error.URLError, OSError) as err:
            raise LabelStudioError(f"cannot reach Label Studio at {self.url} ({_reason(err)}); is it running, "
                                   f"and is --url / ${URL_VARIABLE} right?") from None
        except (ValueError, KeyError):
            raise LabelStudioError(f"{self.url}/api/token/refresh/ did not answer with an access token; is "
                                   f"this a Label Studio server (1.22 or later)?") from None


def _reason(err: Exception) -> str:
    """What the server (or the network) said, on one short line."""
    if isinstance(err, urllib.error.HTTPError):
        try:
            detail = json.loads(err.read() or b"{}")
        except ValueError:
            detail = {}
        text = (detail.get("validation_errors") or detail.get("detail") or err.reason) if isinstance(detail, dict) \
            else detail
        return " ".join(str(text).split())[:300]
    return " ".join(str(getattr(err, "reason", err)).split())[:300]
