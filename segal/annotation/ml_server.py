"""Label Studio's ML backend protocol over HTTP (Starlette): ``/health``, ``/setup``, ``/predict``, ``/webhook``,
and a ``/status`` page.

* ``GET /health``: ``{"status": "UP", ...}`` with the run, the step and the training state.
* ``POST /setup``: ``{"model_version": "<run>/step_<N>"}``.
* ``POST /predict``: ``{"tasks": [...]}`` -> ``{"results": [{"result", "score", "model_version"}, ...]}``, one per
  task (:class:`~segal.annotation.ml_backend.RunPredictor`).
* ``POST /webhook``: Label Studio's event; annotations are imported and may start a training step
  (:class:`~segal.annotation.ml_backend.AnnotationIntake`).
* ``POST /train``: starts the next training step (Label Studio's "Start Training").
* ``GET /status``: the current step, the labels waiting for the next step, whether a step trains.

A request that fails its checks gets a 4xx answer whose ``error`` names the
task or limit at fault; the server goes on serving. Bodies above ``max_bytes``
and ``/predict`` calls above ``max_tasks`` tasks are refused. With
``credentials``, every route but ``/health`` asks for HTTP basic auth (what
Label Studio's ML backend connection sends when "basic auth" is set); nothing
logs a request's body or headers, so the tokens Label Studio sends stay out of logs.
"""
import asyncio
import base64
import hmac
import json
import logging
from typing import Optional, Tuple

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..errors import SegalError
from .ml_backend import AnnotationIntake, RunPredictor

logger = logging.getLogger("segal")


class Refused(Exception):
    """A request the backend answers with an error status; ``message`` says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def create_app(predictor: RunPredictor, intake: AnnotationIntake, credentials: Optional[Tuple[str, str]] = None,
               max_bytes: int = 32 * 2**20, max_tasks: int = 256) -> Starlette:
    """The ML backend's web app.

    Args:
        predictor: Predictions and scores of the run's latest model.
        intake: Annotations in, training steps out.
        credentials: ``(user, password)`` that every route but ``/health`` requires (basic auth), or ``None``.
        max_bytes: The largest request body accepted.
        max_tasks: The most tasks one ``/predict`` call may ask for.
    """
    backend = MLBackend(predictor, intake, credentials, max_bytes, max_tasks)
    routes = [("/health", backend.health, ["GET"]), ("/", backend.health, ["GET"]),
              ("/setup", backend.setup, ["POST"]), ("/predict", backend.predict, ["POST"]),
              ("/webhook", backend.webhook, ["POST"]), ("/train", backend.train, ["POST"]),
              ("/status", backend.status, ["GET"])]
    return Starlette(routes=[Route(path, _answering(path, handler), methods=methods)
                             for path, handler, methods in routes])


def _answering(path: str, handler):
    """An endpoint that answers ``handler``'s dict as JSON, and a refused or failed request with its error."""
    async def endpoint(request: Request):
        try:
            return JSONResponse(await handler(request))
        except Refused as err:
            return JSONResponse({"error": str(err)}, status_code=err.status,
                                headers={"WWW-Authenticate": "Basic"} if err.status == 401 else None)
        except (SegalError, OSError) as err:
            logger.warning("%s %s refused: %s", request.method, path, err)
            return JSONResponse({"error": str(err)}, status_code=422)
    return endpoint


class MLBackend:
    """The routes' handlers; requests that touch the model or the run take turns (one model, one run).

    Args:
        predictor, intake, credentials, max_bytes, max_tasks: As for :func:`create_app`.
    """

    def __init__(self, predictor: RunPredictor, intake: AnnotationIntake, credentials: Optional[Tuple[str, str]],
                 max_bytes: int, max_tasks: int):
        self.predictor, self.intake, self.credentials = predictor, intake, credentials
        self.max_bytes, self.max_tasks = max_bytes, max_tasks
        self.lock = asyncio.Lock()

    async def body(self, request: Request) -> dict:
        """The request's JSON object, once its credentials and size have passed."""
        self.authorise(request)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise Refused(413, f"request body of {declared} bytes is over the limit of {self.max_bytes}")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > self.max_bytes:
                raise Refused(413, f"request body is over the limit of {self.max_bytes} bytes")
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            raise Refused(400, "request body is not JSON") from None
        if not isinstance(payload, dict):
            raise Refused(400, "request body must be a JSON object")
        return payload

    def authorise(self, request: Request) -> None:
        if self.credentials is not None:
            _check_credentials(request, self.credentials)

    def state(self) -> dict:
        predictor, intake = self.predictor, self.intake
        return {"run": str(predictor.folder.root), "step": predictor.step, "model_version": predictor.model_version,
                "labels_waiting": intake.new_labels, "train_every": intake.train_every,
                "training": intake.is_training, "score_scale": predictor.scale}

    async def health(self, request: Request) -> dict:
        return {"status": "UP", "model_class": "segal", **self.state()}

    async def setup(self, request: Request) -> dict:
        await self.body(request)
        async with self.lock:
            await asyncio.to_thread(self.predictor.refresh)
        return {"model_version": self.predictor.model_version}

    async def predict(self, request: Request) -> dict:
        tasks = (await self.body(request)).get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise Refused(400, "expected 'tasks': a non-empty list")
        if len(tasks) > self.max_tasks:
            raise Refused(413, f"{len(tasks)} tasks in one call; at most {self.max_tasks}")
        async with self.lock:
            return {"results": await asyncio.to_thread(self.predictor.predict, tasks)}

    async def webhook(self, request: Request) -> dict:
        payload = await self.body(request)
        async with self.lock:
            return await asyncio.to_thread(self.intake.receive, payload)

    async def train(self, request: Request) -> dict:
        """Label Studio's "Start Training" (without its webhook feature flag)."""
        await self.body(request)
        return {"training_started": self.intake.start_training()}

    async def status(self, request: Request) -> dict:
        self.authorise(request)
        if not self.intake.is_training:  # a step trained since: show it
            async with self.lock:
                await asyncio.to_thread(self.predictor.refresh)
        return self.state()


def _check_credentials(request: Request, credentials: Tuple[str, str]) -> None:
    header = request.headers.get("authorization", "")
    try:
        user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except ValueError:
        user, password = "", ""
    if not (header.startswith("Basic ") and hmac.compare_digest(user, credentials[0])
            and hmac.compare_digest(password, credentials[1])):
        raise Refused(401, "basic auth required: the user and password given to segal-ml-backend")
