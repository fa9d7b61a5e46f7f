"""Connection strings with `${VAR}` references: expanded so that any value survives, and shown
without their credentials.

A password comes from the environment and may hold any character. Put raw into
`postgresql://ada:${PW}@host/db`, an `@`, `/` or `:` in it moves the boundaries of the URL (the
rest of the password becomes the host, is sent to DNS and echoed by libpq's error); put raw into
`password=${PW} dbname=db`, a space or a quote ends the value early. So a reference is expanded
in the syntax of the place it stands in:

- in a URL (`postgresql://`, Spark Connect's `sc://`), percent-encoded in the user information
  and in parameter values (`?sslpassword=...`, `/;token=...`), which libpq and Spark Connect
  decode; raw in the host, port and path, where a variable may hold `host:port`;
- in libpq's `key=value` form, quoted as libpq reads a value (single quotes, `\\'` and `\\\\`);
- a reference that is the whole string (`dsn: ${PROD_DSN}`) is the connection string itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from tidegate.errors import ConfigError

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "***"
_URL = re.compile(r"^(?P<scheme>\s*[A-Za-z][A-Za-z0-9+.-]*://)(?P<netloc>[^/?#;]*)(?P<rest>.*)$", re.DOTALL)
# libpq's key=value form: a value is single-quoted (with backslash escapes) or runs to a space.
_PAIR = re.compile(r"(?P<key>[^\s=']+)(?P<equals>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^\s']*)", re.DOTALL)
# A setting anywhere in a string: a libpq pair, a URL's query parameter, a Spark Connect parameter.
_SETTING = re.compile(r"(?P<key>[\w.-]+)(?P<equals>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^\s&;']*)", re.DOTALL)
# Keys whose value is a secret (libpq's password and sslpassword, Spark Connect's token...);
# not sslkey or passfile, which name files.
_SECRET_KEY = re.compile(r"password|passwd|pwd|secret|token|credential|api_?key|access_?key", re.IGNORECASE)


@dataclass(frozen=True)
class Expanded:
    """A connection string with its references expanded, and the secrets it now holds (each in
    the spellings it may be echoed in), for scrubbing messages."""

    text: str
    secrets: tuple[str, ...] = ()


def env_value(name: str) -> str:
    if name not in os.environ:
        raise ConfigError(f"environment variable {name} is not set")
    return os.environ[name]


def expand_env_refs(value: str) -> str:
    """Replace `${VAR}` by the variable's value, as it is (not for connection strings: see
    `expand_connection`); credentials only ever come from the environment."""
    return ENV_REF.sub(lambda match: env_value(match.group(1)), value)


def expand_connection(template: str) -> Expanded:
    """`template` (a URL or libpq key=value string) with its `${VAR}`s expanded so that each
    value stays whole, whatever characters it holds."""
    if ENV_REF.fullmatch(template.strip()):
        text = expand_env_refs(template.strip())
        return Expanded(text, _secrets_of(text))
    if _URL.match(template):
        return _expand_url(template)
    if "=" in ENV_REF.sub("", template):
        return _expand_pairs(template)
    text = expand_env_refs(template)
    return Expanded(text, _secrets_of(text))


def literal_secret(template: str) -> bool:
    """Whether a connection string spells out a password or token instead of referencing a
    variable (`password=${PW} dbname=shop` does not; `password=hunter2` does)."""
    url = _URL.match(template)
    if url:
        user, _, _ = _split_netloc(url["netloc"])
        password = user.partition(":")[2]
        if ENV_REF.sub("", password):
            return True
        pairs = [_PAIR.fullmatch(p) for p in re.split(r"[?&;]", url["rest"])]
        return any(p and _SECRET_KEY.search(p["key"]) and ENV_REF.sub("", p["value"]) for p in pairs)
    return any(
        _SECRET_KEY.search(pair["key"]) and ENV_REF.sub("", pair["value"]).strip("'")
        for pair in _PAIR.finditer(template)
    )


def mask(text: str) -> str:
    """`text` (a URL, a libpq string, or a message quoting one) with every password, token and
    user-information password replaced by `***`."""
    text = re.sub(r"(://[^/?#@\s:]*:)[^/?#@\s]*@", lambda m: f"{m[1]}{MASK}@", text)
    return _SETTING.sub(
        lambda m: f"{m['key']}{m['equals']}{MASK}" if _SECRET_KEY.search(m["key"]) else m[0], text
    )


def dsn_identity(dsn: str) -> str:
    """host:port/dbname of a libpq connection string or URL, without user or password."""
    from urllib.parse import urlparse

    if "://" in dsn:
        url = urlparse(dsn)
        return f"{url.hostname or 'localhost'}:{url.port or 5432}{url.path or '/'}"
    fields = {pair["key"]: _unquoted(pair["value"]) for pair in _PAIR.finditer(dsn)}
    return f"{fields.get('host', 'localhost')}:{fields.get('port', '5432')}/{fields.get('dbname', '')}"


def _unquoted(value: str) -> str:
    if value.startswith("'") and value.endswith("'") and len(value) > 1:
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` without any of `secrets` (longest first: one may contain another)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


# URLs ------------------------------------------------------------------------------------------


def _split_netloc(netloc: str) -> tuple[str, str, str]:
    """(user information, `@` or '', host and port): the user part ends at the last `@`."""
    user, at, host = netloc.rpartition("@")
    return user, at, host


def _expand_url(template: str) -> Expanded:
    url = _URL.match(template)
    assert url is not None
    user, at, host = _split_netloc(url["netloc"])
    secrets: list[str] = []
    rest = url["rest"]
    start = min((i for i in (rest.find("?"), rest.find(";")) if i >= 0), default=len(rest))
    path, parameters = rest[:start], rest[start:]
    login, colon, password = user.partition(":")
    text = (
        url["scheme"]
        + _expand(login, _encoded, [])
        + colon
        + _expand(password, _encoded, secrets)
        + at
        + expand_env_refs(host)
        + expand_env_refs(path)
        + _expand_parameters(parameters, secrets)
    )
    return Expanded(text, tuple(secrets))


def _expand_parameters(parameters: str, secrets: list[str]) -> str:
    parts = re.split(r"([?&;])", parameters)
    out = []
    for part in parts:
        key, equals, value = part.partition("=")
        kept = secrets if _SECRET_KEY.search(key) else []
        out.append(expand_env_refs(key) + equals + _expand(value, _encoded, kept))
    return "".join(out)


def _encoded(value: str) -> tuple[str, ...]:
    return (quote(value, safe=""),)


# key=value -------------------------------------------------------------------------------------


def _expand_pairs(template: str) -> Expanded:
    secrets: list[str] = []
    out: list[str] = []
    end = 0
    for pair in _PAIR.finditer(template):
        if template[end : pair.start()].strip():  # not libpq's syntax: libpq will say so
            text = expand_env_refs(template)
            return Expanded(text, _secrets_of(text))
        out.append(template[end : pair.start()])
        end = pair.end()
        value = pair["value"]
        kept = secrets if _SECRET_KEY.search(pair["key"]) else []
        if not ENV_REF.search(value):
            out.append(pair[0])
        elif value.startswith("'"):
            out.append(pair["key"] + pair["equals"] + "'" + _expand(value[1:-1], _escaped, kept) + "'")
        else:
            out.append(pair["key"] + pair["equals"] + "'" + _expand(value, _escaped, kept) + "'")
    if template[end:].strip():
        text = expand_env_refs(template)
        return Expanded(text, _secrets_of(text))
    return Expanded("".join(out) + template[end:], tuple(secrets))


def _escaped(value: str) -> tuple[str, ...]:
    return (value.replace("\\", "\\\\").replace("'", "\\'"),)


# shared ----------------------------------------------------------------------------------------


def _expand(template: str, spell: Callable[[str], tuple[str, ...]], secrets: list[str]) -> str:
    """`template` with each reference replaced by the first spelling of its value; a value is
    added to `secrets` (raw and in every spelling) when the caller keeps secrets."""

    def substitute(match: re.Match[str]) -> str:
        value = env_value(match.group(1))
        spellings = spell(value)
        if value:
            secrets.extend(s for s in (value, *spellings) if s)
        return spellings[0]

    return ENV_REF.sub(substitute, template)


def _secrets_of(text: str) -> tuple[str, ...]:
    """The passwords a whole connection string from one variable holds: the string itself, and
    its user-information password and secret parameters."""
    found = [text]
    url = _URL.match(text)
    if url:
        password = _split_netloc(url["netloc"])[0].partition(":")[2]
        found.append(password)
    for setting in _SETTING.finditer(text):
        if _SECRET_KEY.search(setting["key"]):
            found += [setting["value"], _unquoted(setting["value"])]
    return tuple(s for s in found if s)
