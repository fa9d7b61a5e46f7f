"""Reading the files of a project: every failure names the file, never a bare decoding error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tidegate.errors import ProjectError, TidegateError


def read_text(
    path: Path,
    shown: str | Path | None = None,
    *,
    error: type[TidegateError] = ProjectError,
    universal_newlines: bool = True,
) -> str:
    """The UTF-8 text of a project file. A file that cannot be read or is not UTF-8 raises
    `error` (a ProjectError unless told) naming it as `shown` (the path when not given), with
    the line of the first bad byte. Line ends read as `Path.read_text` reads them, unless
    `universal_newlines` is false (the bytes as they are, for checksums)."""
    name = shown if shown is not None else path
    try:
        data = path.read_bytes()
    except OSError as problem:
        raise error(f"cannot read the file: {problem.strerror or problem}", path=name) from None
    text = decode(data, name, error=error)
    if not universal_newlines:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode(data: bytes, shown: str | Path, *, error: type[TidegateError] = ProjectError) -> str:
    """The UTF-8 text of a file's bytes; bytes that are not UTF-8 raise `error` naming the file
    as `shown` and the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as problem:
        line = data[: problem.start].count(b"\n") + 1
        raise error(
            f"the file is not UTF-8 text (byte 0x{data[problem.start]:02x} at offset {problem.start})",
            path=shown,
            line=line,
            hint="save the file as UTF-8",
        ) from None


def project_files(root: Path, folders: list[str], *suffixes: str) -> Iterator[Path]:
    """The files below `root`'s `folders` ending in one of `suffixes`, sorted per folder."""
    for folder in folders:
        base = root / folder
        if base.is_dir():
            yield from sorted(path for path in base.rglob("*") if path.suffix in suffixes and path.is_file())
