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
    lock = asyncio.Lock()  # one model, one run: requests take turns

    async def body(request: Request) -> dict:
        if credentials is not None:
            _check_credentials(request, credentials)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise Refused(413, f"request body of {declared} bytes is over the limit of {max_bytes}")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > max_bytes:
                raise Refused(413, f"request body is over the limit of {max_bytes} bytes")
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            raise Refused(400, "request body is not JSON") from None
        if not isinstance(payload, dict):
            raise Refused(400, "request body must be a JSON object")
        return payload

    def state() -> dict:
        return {"run": str(predictor.folder.root), "step": predictor.step, "model_version": predictor.model_version,
                "labels_waiting": intake.new_labels, "train_every": intake.train_every,
                "training": intake.is_training}

    async def health(request: Request):
        return {"status": "UP", "model_class": "segal", **state()}

    async def setup(request: Request):
        await body(request)
        async with lock:
            await asyncio.to_thread(predictor.refresh)
        return {"model_version": predictor.model_version}

    async def predict(request: Request):
        tasks = (await body(request)).get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise Refused(400, "expected 'tasks': a non-empty list")
        if len(tasks) > max_tasks:
            raise Refused(413, f"{len(tasks)} tasks in one call; at most {max_tasks}")
        async with lock:
            results = await asyncio.to_thread(predictor.predict, tasks)
        return {"results": results}

    async def webhook(request: Request):
        payload = await body(request)
        async with lock:
            done = await asyncio.to_thread(intake.receive, payload)
        return done

    async def train(request: Request):  # Label Studio's "Start Training" without its webhook feature flag
        await body(request)
        return {"training_started": intake.start_training()}

    async def status(request: Request):
        if credentials is not None:
            _check_credentials(request, credentials)
        if not intake.is_training:  # a step trained since: show it
            async with lock:
                await asyncio.to_thread(predictor.refresh)
        return state()

    def route(path, handler, methods):
        async def endpoint(request: Request):
            try:
                return JSONResponse(await handler(request))
            except Refused as err:
                return JSONResponse({"error": str(err)}, status_code=err.status,
                                    headers={"WWW-Authenticate": "Basic"} if err.status == 401 else None)
            except (SegalError, OSError) as err:
                logger.warning("%s %s refused: %s", request.method, path, err)
                return JSONResponse({"error": str(err)}, status_code=422)
        return Route(path, endpoint, methods=methods)

    return Starlette(routes=[route("/health", health, ["GET"]), route("/", health, ["GET"]),
                             route("/setup", setup, ["POST"]), route("/predict", predict, ["POST"]),
                             route("/webhook", webhook, ["POST"]), route("/train", train, ["POST"]),
                             route("/status", status, ["GET"])])


def _check_credentials(request: Request, credentials: Tuple[str, str]) -> None:
    header = request.headers.get("authorization", "")
    try:
        user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except ValueError:
        user, password = "", ""
    if not (header.startswith("Basic ") and hmac.compare_digest(user, credentials[0])
            and hmac.compare_digest(password, credentials[1])):
        raise Refused(401, "basic auth required: the user and password given to segal-ml-backend")
