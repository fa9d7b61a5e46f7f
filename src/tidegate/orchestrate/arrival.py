"""Arrival of shipped DAG files, as Airflow itself reports it through its REST API.

Copying the files is not the end of a deploy: the scheduler must parse them, and a file that
imports on the CI machine may not import in the real Airflow (a package missing from its image, a
variable it lacks). After the upload, `wait_for_arrival` asks Airflow 3's public API (`/api/v2`)
until each shipped file was parsed after the upload began: a DAG of the file whose parse started
then (`last_parsed_time` less `last_parse_duration`), or an import error of the file recorded since
(`/importErrors`), which fails the deploy naming the file and the line of its traceback.

Authentication is Airflow's own: a bearer token (a JWT), or `user:password`, which is exchanged for
one at `POST /auth/token` (the simple, FAB and Keycloak auth managers all serve it). Neither ever
appears in a message. A refused or absent Airflow answer (connection refused, 5xx) is retried
until the timeout, because a managed Airflow restarts while it installs new requirements.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlencode, urlsplit

from tidegate.errors import CheckFailed, TidegateError
from tidegate.project.dsn import scrub

API = "/api/v2"
REQUEST_TIMEOUT = 20.0
"""Seconds one request may take; the wait as a whole is bounded by `timeout`."""
PAGE = 100
"""Airflow's default `maximum_page_limit`."""
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


class AirflowApiError(TidegateError):
    """Airflow's API refused tidegate or cannot be read; the message never holds the token."""

    exit_code = 1


@dataclass(frozen=True)
class ImportFailure:
    """One shipped file Airflow could not import: where, and the exception line of its traceback."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Arrival:
    """The shipped files Airflow parsed after the upload began, and the DAGs it found in them."""

    files: tuple[str, ...]
    dags: dict[str, str]
    """dag_id -> the file that defines it."""
    seconds: float
    """How long Airflow took to parse them all, from the start of the wait."""

    def to_dict(self) -> dict[str, Any]:
        return {"files": list(self.files), "dags": dict(self.dags), "seconds": round(self.seconds, 1)}


def wait_for_arrival(
    api_url: str,
    token: str | None,
    files: Iterable[str],
    *,
    since: datetime,
    timeout: float,
    progress: Callable[[str], None] | None = None,
    folder: str = "",
    poll: float = 2.0,
) -> Arrival:
    """Wait until Airflow parsed every file of `files` after `since` (the start of the upload).

    `files` are the shipped DAG files as Airflow names them, relative to its DAGs folder
    (`orders/daily.py`); each must define a DAG, since Airflow records nothing for a file that
    parses to none. An import error of one of them recorded after `since` -> CheckFailed naming
    the file and line; still unparsed after `timeout` seconds -> CheckFailed naming what is not.
    With `folder` (the project's DAGs folder, `dags`), files are named as the project has them
    in errors and in the Arrival (`dags/orders/daily.py`)."""
    api = AirflowApi.connect(api_url, token)
    wanted = tuple(dict.fromkeys(f.strip("/") for f in files))
    since = since.astimezone(UTC)
    started = time.monotonic()
    said, trouble, waiting = "", "", list(wanted)
    while True:
        try:
            seen = _observe(api, wanted, since)
            trouble = ""
        except _Unavailable as error:
            seen, trouble = None, str(error)
        if seen is not None:
            failures, parsed = seen
            if failures:
                raise _import_failed([replace(f, path=_named(folder, f.path)) for f in failures], api.base)
            waiting = [f for f in wanted if f not in parsed]
            if not waiting:
                dags = {dag: _named(folder, file) for file in wanted for dag in sorted(parsed[file])}
                files = tuple(_named(folder, file) for file in wanted)
                return Arrival(files, dags, time.monotonic() - started)
        if time.monotonic() - started >= timeout:
            raise _timed_out([_named(folder, f) for f in waiting], timeout, api.base, trouble)
        news = trouble or f"Airflow has parsed {len(wanted) - len(waiting)} of {len(wanted)} DAG files"
        if progress is not None and news != said:
            progress(news)
        said = news
        time.sleep(poll)


def _observe(
    api: AirflowApi, wanted: tuple[str, ...], since: datetime
) -> tuple[list[ImportFailure], dict[str, set[str]]]:
    """The import errors of `wanted` files recorded since `since`, and each file parsed since
    then with the dag_ids found in it. A parse counts from its start: one that began before the
    upload may have read the old file."""
    chosen = set(wanted)
    failures = [
        _failure(error)
        for error in api.items("/importErrors", "import_errors")
        if error.get("filename") in chosen and _when(error.get("timestamp")) >= since
    ]
    parsed: dict[str, set[str]] = {}
    for dag in api.items("/dags", "dags"):
        file = dag.get("relative_fileloc")
        if file in chosen and not dag.get("has_import_errors"):
            began = _when(dag.get("last_parsed_time")) - timedelta(
                seconds=dag.get("last_parse_duration") or 0
            )
            if began >= since:
                parsed.setdefault(file, set()).add(str(dag["dag_id"]))
    return sorted(failures, key=lambda f: f.path), parsed


def _named(folder: str, file: str) -> str:
    """A file as the project names it: under its DAGs folder (any spelling, `./dags/`)."""
    return (PurePosixPath(folder) / file).as_posix() if folder.strip("./") else file


def _when(stamp: object) -> datetime:
    """An API timestamp (ISO 8601, `Z` for UTC); a missing one is long ago."""
    if not isinstance(stamp, str) or not stamp:
        return datetime.min.replace(tzinfo=UTC)
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _failure(error: Mapping[str, Any]) -> ImportFailure:
    """The file, the line of its deepest frame in the traceback (Airflow prints its own absolute
    path, which ends with the relative one), and the exception line."""
    path = str(error["filename"])
    trace = str(error.get("stack_trace") or "")
    lines = [int(n) for frame, n in _FRAME.findall(trace) if frame == path or frame.endswith("/" + path)]
    said = [line.strip() for line in trace.strip().splitlines() if line.strip()]
    return ImportFailure(path, lines[-1] if lines else None, said[-1] if said else "cannot be imported")


def _import_failed(failures: list[ImportFailure], base: str) -> CheckFailed:
    first = failures[0]
    others = "".join(f"\n  {failure}" for failure in failures[1:])
    return CheckFailed(
        f"Airflow at {base} cannot import the shipped DAG file: {first.message}{others}",
        path=first.path,
        line=first.line,
        hint="the file is deployed but the scheduler runs none of its DAGs: fix it and deploy again "
        "(Airflow's own traceback is under Browse > Dag Import Errors)",
    )


def _timed_out(waiting: Iterable[str], timeout: float, base: str, trouble: str) -> CheckFailed:
    names = ", ".join(waiting)
    if trouble:
        return CheckFailed(
            f"Airflow at {base} did not answer within {timeout:g}s: {trouble}",
            hint="check orchestration: airflow: targets: api_url and that Airflow's api-server is up",
        )
    return CheckFailed(
        f"Airflow at {base} had not parsed {names} {timeout:g}s after the upload",
        hint="check that the dag-processor runs and reads the folder shipped to; a file that defines "
        "no DAG is never reported; a slow parse needs a longer parse_timeout",
    )


class _Unavailable(AirflowApiError):
    """Airflow did not answer, or answered 5xx: it may be restarting, so the wait goes on."""


@dataclass
class AirflowApi:
    """JSON from Airflow 3's public API; the credentials travel only in headers and bodies."""

    base: str
    """Airflow's root URL (no trailing slash, no `/api/v2`)."""
    credentials: str | None = field(default=None, repr=False)
    bearer: str | None = field(default=None, repr=False)

    @classmethod
    def connect(cls, api_url: str, token: str | None) -> AirflowApi:
        base = api_url.strip().rstrip("/").removesuffix(API)
        if urlsplit(base).scheme not in ("http", "https"):
            raise AirflowApiError(
                f"the Airflow API URL {base!r} is not an http(s) URL",
                path="tidegate.yml",
                hint="orchestration: airflow: targets: api_url is Airflow's root, e.g. https://airflow.example.com",
            )
        token = (token or "").strip() or None
        if token is not None and ":" in token:
            return cls(base, credentials=token)
        return cls(base, bearer=token)

    @property
    def secrets(self) -> tuple[str, ...]:
        parts = (self.credentials or "").partition(":")
        return tuple(s for s in (self.credentials, parts[0], parts[2], self.bearer) if s)

    def items(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        """Every item of a paged list (`limit` and `offset`)."""
        offset = 0
        while True:
            page = self.get(path, {"limit": PAGE, "offset": offset})
            items = page.get(key) if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise AirflowApiError(f"Airflow at {self.base} did not answer GET {API}{path} with {key}")
            yield from items
            offset += len(items)
            if not items or offset >= int(page.get("total_entries", 0)):
                return

    def get(self, path: str, query: Mapping[str, object]) -> Any:
        if self.bearer is None and self.credentials is not None:
            self.bearer = self._log_in()
        return self._send("GET", f"{API}{path}?{urlencode(query)}", None, auth=True)

    def _log_in(self) -> str:
        """A JWT for `user:password`, from the auth manager's `POST /auth/token`."""
        user, _, password = (self.credentials or "").partition(":")
        answer = self._send("POST", "/auth/token", {"username": user, "password": password}, auth=False)
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str):
            raise AirflowApiError(f"Airflow at {self.base} answered POST /auth/token without an access_token")
        return token

    def _send(self, method: str, path: str, body: Mapping[str, Any] | None, *, auth: bool) -> Any:
        headers = {"Accept": "application/json", "User-Agent": "tidegate"}
        if auth and self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        doing = f"{method} {path.partition('?')[0]}"
        try:
            with _OPENER.open(request, timeout=REQUEST_TIMEOUT) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as error:
            raise self._refused(error, doing) from None
        except (OSError, ValueError, http.client.HTTPException) as error:
            reason = scrub(str(getattr(error, "reason", error)), self.secrets)
            raise _Unavailable(f"cannot reach Airflow at {self.base} ({doing}): {reason}") from None
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError:
            raise AirflowApiError(f"Airflow at {self.base} did not answer {doing} with JSON") from None

    def _refused(self, error: urllib.error.HTTPError, doing: str) -> AirflowApiError:
        said = scrub(_detail(error.read()), self.secrets)
        text = f"Airflow at {self.base} refused {doing} ({error.code}{': ' + said if said else ''})"
        if error.code >= 500 or error.code == 429:
            return _Unavailable(text)
        if error.code in (401, 403):
            return AirflowApiError(
                text,
                hint="the target's token (orchestration: airflow: targets: token, e.g. ${AIRFLOW_TOKEN}) "
                "must be a JWT of a user who may read DAGs and import errors, or user:password",
            )
        return AirflowApiError(
            text, hint="api_url must be the root of an Airflow 3 api-server (tidegate adds /api/v2)"
        )


def _detail(raw: bytes) -> str:
    """What an error answer says: FastAPI's `{"detail": ...}`, else its first line."""
    try:
        detail = json.loads(raw).get("detail")
    except (ValueError, AttributeError):
        detail = raw.decode(errors="replace").strip().splitlines()[0] if raw.strip() else ""
    return (detail if isinstance(detail, str) else json.dumps(detail))[:300]


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to Airflow's own scheme, host and port: urllib would send the
    token along to any other host."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if urlsplit(newurl)[:2] != urlsplit(req.full_url)[:2]:
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameOrigin)
