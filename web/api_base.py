"""The /api/v1 blueprint: bearer-token auth, JSON errors, rate limits and the OpenAPI document."""

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, g, jsonify, request
from pydantic import BaseModel, Field
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree

from conflict.schemas import field_message
from models import ApiToken, User, utcnow
from models.db import session as db_session
from web.errors import json_error
from web.passwords import hash_token
from web.security import csrf, limiter

api = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The error object: a machine code, a sentence and details such as field messages."""

    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    """Every error answer: {"error": {"code", "message", "details"}}."""

    error: ErrorBody


def _error_shape(req: Any, resp: Any, req_validation_error: Any, instance: Any, *_: Any) -> None:
    """Rewrite request-validation failures into the API's error body."""
    if req_validation_error is None or resp is None:
        return
    details = json.loads(resp.get_data(as_text=True) or "[]")
    fields = {
        ".".join(str(p) for p in err.get("loc", [])) or "body": field_message(
            str(err.get("msg", "invalid"))
        )
        for err in details
        if isinstance(err, dict)
    }
    body = {
        "error": {
            "code": "invalid",
            "message": "The request did not validate.",
            "details": {"fields": fields},
        }
    }
    resp.set_data(json.dumps(body))
    resp.mimetype = "application/json"


def _schema_name(model: Any) -> str:
    # Plain model names ("RegistrationOut"), not spectree's default of a name and a hash of its
    # module: clients generated from the document get readable types. Names are kept unique
    # across the API's modules (a test checks), so no two models share one.
    return str(getattr(model, "__name__", model))


def _nested_schema_name(_parent: str, child: str) -> str:
    return child


spec = SpecTree(
    "flask",
    title="ChannelGuard API",
    version="1.0",
    # Spectree leaves out routes under its own path, so its pages live apart from /api/v1 and
    # the document is served at /api/v1/openapi.json by the route below.
    path="apidoc",
    filename="openapi.json",
    naming_strategy=_schema_name,
    nested_naming_strategy=_nested_schema_name,
    page_templates={},
    mode="strict",
    before=_error_shape,
    validation_error_status=422,
    security_schemes=[
        SecurityScheme(name="bearer", data=SecuritySchemeData(type="http", scheme="bearer")),
    ],
    security={"bearer": []},
)


def validate(**kwargs: Any) -> Any:
    """Return spec.validate for a route, its answers serialised from the validated model."""
    resp: Response = kwargs.pop("resp", None) or Response()
    # Every route on the blueprint can answer these: the token check and the rate limit run
    # before any view, so the document lists them wherever a client may meet them.
    resp.add_model(401, ErrorOut, replace=False)
    resp.add_model(429, ErrorOut, replace=False)
    if kwargs.get("json") is not None:
        resp.add_model(400, ErrorOut, replace=False)
    # Serialising the validated model answers exactly the documented shape, and spares the
    # pure-Python walk spectree otherwise makes over every nested value of a dict answer (about
    # a quarter of the CPU of a 50-row listing).
    decorate = spec.validate(force_resp_serialize=True, resp=resp, **kwargs)

    def decorator(func: Callable[..., Any]) -> Any:
        validated = decorate(func)
        if kwargs.get("json") is None and "json" not in getattr(func, "__annotations__", {}):
            return validated

        @wraps(validated)
        def view(*args: Any, **view_kwargs: Any) -> Any:
            refused = _refuse_unreadable_body()
            if refused is not None:
                return refused
            return validated(*args, **view_kwargs)

        return view

    return decorator


# Spectree reads a JSON body leniently (anything unreadable counts as {}), so a broken body or
# one sent as another content type came back as a list of "Field required" errors.
NOT_JSON_TYPE = "Send the body as application/json."


def _refuse_unreadable_body() -> Any:
    """Return an error answer when the body is not a JSON object sent as application/json."""
    # 400 rather than 415: the product's error statuses are 400/401/404/409/422/429.
    if not request.is_json:
        return json_error(400, NOT_JSON_TYPE, code="unsupported_media_type")
    # Parsed once and cached, so spectree's own read of the body costs nothing more.
    body = request.get_json(silent=True)
    if body is None:
        data = request.get_data(cache=True)
        if not data.strip():
            return json_error(
                400, "The request body is not valid JSON: it is empty.", code="invalid_json"
            )
        try:
            json.loads(data)
        except UnicodeDecodeError as exc:
            return json_error(
                400,
                f"The request body is not valid JSON: it is not UTF-8 text (byte {exc.start + 1}).",
                code="invalid_json",
            )
        except ValueError as exc:
            return json_error(
                400, f"The request body is not valid JSON: {exc}.", code="invalid_json"
            )
    if not isinstance(body, dict):
        message = "Send a JSON object ({...}) as the request body."
        return json_error(422, "The request did not validate.", {"fields": {"body": message}})
    return None


def api_user() -> User:
    """Return the user the bearer token belongs to."""
    user: User = g.api_user
    return user


def _token_key() -> str:
    header = request.headers.get("Authorization", "")
    return "tok:" + hash_token(header)[:16] if header else "ip:" + (request.remote_addr or "?")


def _api_limit() -> str:
    return str(current_app.config["API_RATE_LIMIT"])


limiter.limit(_api_limit, key_func=_token_key)(api)


def _unauthorized(message: str, *, bad_token: bool = True) -> Any:
    """Answer 401 with the challenge a bearer-token client reads (RFC 6750)."""
    body, status = json_error(401, message)
    challenge = 'Bearer realm="ChannelGuard API"'
    if bad_token:
        challenge += ', error="invalid_token"'
    return body, status, {"WWW-Authenticate": challenge}


@api.before_request
def _authenticate() -> Any:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized(
            "A bearer token is required (Authorization: Bearer <token>).", bad_token=False
        )
    sess = db_session()
    # The user as an entity, the token as plain columns: every API call runs this first.
    row = sess.execute(
        sa.select(User, ApiToken.id, ApiToken.revoked_at, ApiToken.last_used_at)
        .join(User, User.id == ApiToken.user_id)  # type: ignore[arg-type]
        .where(ApiToken.token_hash == hash_token(token.strip()))
    ).one_or_none()
    if row is None:
        return _unauthorized("The bearer token is not valid.")
    user, token_id, revoked_at, last_used_at = row
    if revoked_at is not None:
        return _unauthorized("The bearer token has been revoked.")
    if not user.is_active:
        return _unauthorized("The account behind this token is disabled.")
    g.api_user = user
    g.api_token = (token_id, last_used_at)
    return None


# "Last used" is shown to a minute; writing it on every call would lock the token row in every
# request's transaction (serialising one client's requests) and be lost on reads that never commit.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@api.after_request
def _touch_token(response: Any) -> Any:
    token = g.pop("api_token", None)
    if token is None or response.status_code >= 500:
        return response
    token_id, last_used = token
    now = utcnow()
    if last_used is not None and now - last_used < LAST_USED_RESOLUTION:
        return response
    sess = db_session()
    # Views commit their own work; anything still pending here was meant to be dropped.
    sess.rollback()
    try:
        sess.execute(sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        sess.commit()
    except sa.exc.SQLAlchemyError:
        sess.rollback()
        log.warning("could not record when API token %s was last used", token_id)
    return response


@api.after_request
def _exact_length(response: Any) -> Any:
    # The response validator rebuilds a view's JSON without jsonify's trailing newline but keeps
    # the view's own headers, Content-Length among them: the header would promise one byte more
    # than is sent, and clients reading by length would wait for it or cut the body short.
    if not response.is_streamed and not response.direct_passthrough:
        response.headers["Content-Length"] = str(len(response.get_data()))
    return response


def require_api_role(*roles: str) -> None:
    """Abort with 404 for partners and 403 for other roles not allowed here."""
    user = api_user()
    if user.role not in roles:
        abort(404 if user.role == "partner" else 403)


def init_app(app: Flask) -> None:
    """Exempt the API from CSRF: it authenticates with bearer tokens, never cookies."""
    csrf.exempt(api)


# Request bodies the generator cannot describe (it writes JSON and multipart forms only), as
# (path, method) -> {media type: schema}; routes add theirs with also_accepts().
_EXTRA_BODIES: dict[tuple[str, str], dict[str, Any]] = {}


def also_accepts(path: str, method: str, media_type: str, schema: dict[str, Any]) -> None:
    """Document one more request body media type for a route."""
    _EXTRA_BODIES.setdefault((path, method.lower()), {})[media_type] = {"schema": schema}


def _document() -> dict[str, Any]:
    document: dict[str, Any] = spec.spec
    for (path, method), content in _EXTRA_BODIES.items():
        operation = document.get("paths", {}).get(path, {}).get(method)
        if operation is not None:
            body = operation.setdefault("requestBody", {"content": {}})
            body.setdefault("content", {}).update(content)
    return document


def openapi_document() -> Any:
    """Serve the OpenAPI document generated from the API's routes and models."""
    return jsonify(_document())


def finalize(app: Flask) -> None:
    """Register the API blueprint and its OpenAPI document once every route is attached."""
    app.register_blueprint(api)
    spec.register(app)
    app.add_url_rule("/api/v1/openapi.json", "openapi", openapi_document)
