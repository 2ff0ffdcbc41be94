"""JSON API for named-account lists: browse versions and upload a CSV (admins only)."""

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from spectree import Response

from conflict.lists import MAX_LISTED_ERRORS, ListError, ListValidationError, import_list
from conflict.schemas import SingleLineStr, field_message
from models import NamedAccountList
from models.db import session as db_session
from web.api_base import also_accepts, api, api_user, require_api_role, validate
from web.errors import json_error

MAX_PAGE = 200
EFFECTIVE_FROM_NEEDS_PUBLISH = "effective_from only applies with publish"


class ListVersionOut(BaseModel):
    """One version of the named-account list."""

    id: int
    label: str
    status: str
    source: str
    content_hash: str
    account_count: int
    effective_from: date | None
    published_at: datetime | None
    superseded_at: datetime | None
    created_at: datetime


class ListPage(BaseModel):
    """A page of list versions, newest first."""

    items: list[ListVersionOut]
    next_cursor: str | None


class ListQuery(BaseModel):
    """Paging and filtering of list versions."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, pattern=r"^\d{1,9}$")
    status: str | None = Field(default=None, pattern=r"^(draft|published|superseded)$")


class UploadOptions(BaseModel):
    """Options of a CSV upload, from the query string or the multipart form."""

    model_config = ConfigDict(extra="forbid")

    publish: bool = False
    effective_from: date | None = None
    label: SingleLineStr | None = Field(default=None, max_length=120)


def _require_file(schema: dict[str, Any]) -> None:
    # The view answers a missing file itself (400, with how to send it), so the model lets it
    # through, but the document tells clients the field is needed.
    schema["properties"]["file"].pop("default", None)
    schema.setdefault("required", []).append("file")


class ListUploadForm(UploadOptions):
    """A multipart upload: the CSV in the field "file", and the options as form fields."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_require_file)

    file: Any = Field(
        default=None,
        description="The named-account CSV (UTF-8).",
        json_schema_extra={"type": "string", "format": "binary"},
    )


class UploadOut(BaseModel):
    """The version an upload made (or found, when the content was already there)."""

    version: ListVersionOut | None
    created: bool
    published: bool
    account_count: int
    message: str


class LineErrorOut(BaseModel):
    """A problem on one line of an uploaded file."""

    line: int
    column: str | None
    message: str


class ListErrorDetails(BaseModel):
    """Details of an error; a refused file lists its first problems and counts every bad line."""

    errors: list[LineErrorOut] = []
    fields: dict[str, str] = {}
    bad_lines: int | None = Field(
        default=None, description="How many lines of a refused file have problems."
    )
    unlisted_bad_lines: int | None = Field(
        default=None,
        description="How many of those lines have none of their problems in errors "
        f"(errors lists at most {MAX_LISTED_ERRORS} problems).",
    )


class ListErrorBody(BaseModel):
    """The error object."""

    code: str
    message: str
    details: ListErrorDetails | dict[str, Any]


class ListErrorOut(BaseModel):
    """The API's error envelope."""

    error: ListErrorBody


def version_json(version: NamedAccountList) -> dict[str, Any]:
    """Return a list version as the API shows it."""
    return ListVersionOut.model_validate(version, from_attributes=True).model_dump(mode="json")


@api.get("/named-account-lists")
@validate(
    query=ListQuery,
    resp=Response(
        HTTP_200=ListPage,
        HTTP_401=ListErrorOut,
        HTTP_403=ListErrorOut,
        HTTP_404=ListErrorOut,
        HTTP_422=ListErrorOut,
        HTTP_429=ListErrorOut,
    ),
    tags=["named-account lists"],
)
def list_versions() -> Any:
    """List named-account list versions, newest first (keyset-paginated by id)."""
    require_api_role("admin")
    query: ListQuery = request.context.query  # type: ignore[attr-defined]
    stmt = sa.select(NamedAccountList).order_by(NamedAccountList.id.desc()).limit(query.limit + 1)
    if query.cursor:
        stmt = stmt.where(NamedAccountList.id < int(query.cursor))
    if query.status:
        stmt = stmt.where(NamedAccountList.status == query.status)
    rows = db_session().execute(stmt).scalars().all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return jsonify(
        items=[version_json(v) for v in rows],
        next_cursor=str(rows[-1].id) if more and rows else None,
    )


def _upload_body() -> tuple[bytes | None, str | None]:
    upload = request.files.get("file")
    if upload is not None:
        return upload.read(), upload.filename
    if request.mimetype in ("text/csv", "application/csv", "text/plain"):
        return request.get_data(cache=False), None
    return None, None


also_accepts(
    "/api/v1/named-account-lists",
    "post",
    "text/csv",
    {"type": "string", "description": "The whole named-account CSV file as the request body."},
)


@api.post("/named-account-lists")
@validate(
    query=UploadOptions,
    form=ListUploadForm,
    resp=Response(
        HTTP_200=UploadOut,
        HTTP_201=UploadOut,
        HTTP_400=ListErrorOut,
        HTTP_401=ListErrorOut,
        HTTP_403=ListErrorOut,
        HTTP_404=ListErrorOut,
        HTTP_422=ListErrorOut,
        HTTP_429=ListErrorOut,
    ),
    tags=["named-account lists"],
)
def upload_list() -> Any:
    """Upload a named-account CSV (multipart field "file" or a text/csv body) as a draft.

    Send the file as the multipart/form-data field "file", or as the whole request body with
    Content-Type text/csv. Query or form fields: publish (true/false), effective_from
    (YYYY-MM-DD, only with publish), label. A file with any bad line is refused with 422:
    details.errors lists its first 200 problems, details.bad_lines counts every bad line and
    details.unlisted_bad_lines the bad lines not listed.
    """
    require_api_role("admin")
    # The query string and a multipart form were each checked already; an option may come from
    # either, so the two are checked here together (unknown names refused).
    try:
        # A "file" sent as a plain form field is not an option: it gets the missing-file answer.
        raw = {k: v for k, v in request.values.to_dict().items() if k != "file"}
        options = UploadOptions.model_validate(raw)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]): field_message(e["msg"]) for e in exc.errors()}
        return json_error(422, "The request did not validate.", {"fields": fields})
    if options.effective_from is not None and not options.publish:
        # Accepting it would drop the date without a word; the command line refuses it too.
        return json_error(
            422,
            f"{EFFECTIVE_FROM_NEEDS_PUBLISH}.",
            {"fields": {"effective_from": EFFECTIVE_FROM_NEEDS_PUBLISH}},
        )
    data, filename = _upload_body()
    if data is None:
        return json_error(
            400, 'Send the CSV as multipart field "file" or as a text/csv request body.'
        )
    sess = db_session()
    user = api_user()
    try:
        result = import_list(
            sess,
            data,
            actor_id=user.id,
            label=options.label or (f"Upload of {filename}" if filename else None),
            source="api",
            publish_now=options.publish,
            effective_from=options.effective_from,
        )
    except ListValidationError as exc:
        sess.rollback()
        details = {
            "errors": [e.as_dict() for e in exc.errors],
            "bad_lines": exc.bad_lines,
            "unlisted_bad_lines": exc.unlisted_lines,
        }
        return json_error(422, str(exc), details, code="invalid_file")
    except ListError as exc:
        sess.rollback()
        # The message is a clause the pages also show after their own lead-in.
        return json_error(422, f"Nothing was imported: {exc}.", code="not_publishable")
    sess.commit()
    body = {
        "version": version_json(result.version) if result.version is not None else None,
        "created": result.created,
        "published": result.published is not None,
        "account_count": result.account_count,
        "message": result.message,
    }
    return jsonify(body), 201 if result.created else 200
