"""What a stopped tidegate leaves on the machine: nothing that runs, nothing that piles up.

A tidegate process can be stopped anywhere: Ctrl-C, a CI system cancelling the job (SIGTERM,
then SIGKILL), a closed terminal (SIGHUP). A process it forked must not outlive it (an orphaned
worker holds its memory until the machine restarts), so each worker asks the kernel to stop it
when its parent dies (Linux), or watches its parent (elsewhere). A temporary folder holds a file
locked for as long as the process that made it (or a worker it forked) lives: the kernel
releases the lock however that process ends, so the next tidegate on the machine can tell the
folders of killed runs from those of running ones, whatever their process ids and pid
namespaces, and removes them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

T = TypeVar("T")

PREFIX = "tidegate-"
"""Of every temporary folder tidegate makes, followed by what it is for and the process id."""
LOCK_FILE = ".tidegate-owner"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class Terminated(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP, raised wherever the process is, as Python raises
    KeyboardInterrupt on Ctrl-C (and handled as it is): every `with` and `finally` on the way
    out runs, so temporary folders are removed, workers stopped, locks released and an
    unfinished apply left undone."""

    def __init__(self, number: int) -> None:
        super().__init__(signal.Signals(number).name)
        self.number = number

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process a signal ended."""
        return 128 + self.number


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """While inside: SIGINT, SIGTERM and SIGHUP raise `Terminated`. A second signal, while the
    first unwinds, ends the process at once (Ctrl-C twice; a CI system's SIGTERM after its
    SIGINT): its workers still die with it, and the next run removes its temporary folders.
    Only the main thread receives signals: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    numbers = [signal.SIGINT, *_stopping_signals()]
    previous = {number: signal.getsignal(number) for number in numbers}

    def stop(number: int, frame: Any) -> None:
        for each in numbers:
            signal.signal(each, signal.SIG_DFL)
        raise Terminated(number)

    for number in numbers:
        signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


class WorkerDied(RuntimeError):
    """The worker process ended without an answer (killed, out of memory, could not start)."""


class Worker(Generic[T]):
    """`function(*args)` in a process of its own, started at once and collected by `result()`,
    so that it runs while this process does something else. Forked where possible: the worker
    starts with what this process imported. It dies with this process, and leaving the `with`
    block stops it if it is still running (a pipeline interrupted half-way)."""

    def __init__(self, function: Callable[..., T], *args: Any) -> None:
        from multiprocessing import get_all_start_methods, get_context

        context = get_context("fork") if "fork" in get_all_start_methods() else get_context("spawn")
        self._answers, answer = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve, args=(answer, os.getpid(), function, args), name="tidegate-worker"
        )
        self._process.start()
        answer.close()  # the worker holds the only writing end: its death is the end of the pipe

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def result(self) -> T:
        """What the function returned, or the exception it raised, raised here."""
        try:
            kind, value = self._answers.recv()
        except (EOFError, OSError):
            self._process.join()
            code = self._process.exitcode
            raise WorkerDied(f"the worker process ended without an answer (exit code {code})") from None
        self._process.join()
        if kind == "error":
            raise value
        return value

    def stop(self) -> None:
        """Terminate the worker if it still runs (it stops what it started itself), then kill."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._answers.close()

    def __enter__(self) -> Worker[T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _serve(answer: Connection, parent: int, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """In the worker: run, send the outcome. The worker leads a process group of its own, so
    that terminating it ends everything it started too (a ruff subprocess, sqlfluff's pool)."""
    die_with_parent(parent)
    with contextlib.suppress(AttributeError, OSError):  # not on Windows
        os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, _end_group)
    outcome: tuple[str, Any]
    try:
        outcome = ("result", function(*args))
    except Exception as error:
        outcome = ("error", error)
    try:
        answer.send(outcome)
    except Exception:  # an answer that cannot be pickled
        answer.send(("error", RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}")))


def _end_group(number: int, frame: Any) -> None:
    """Not an exception, which the code running at that moment could swallow (a `__del__`)."""
    if hasattr(os, "killpg") and os.getpgrp() == os.getpid():  # never the parent's group
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(128 + number)


def die_with_parent(parent: int) -> None:
    """In a worker process, first thing: be terminated (SIGTERM) when `parent` dies.

    Ctrl-C is for the parent, which stops its workers itself (a worker interrupted too would
    print its own traceback), and the parent's signal handlers are not the worker's. On Linux
    the kernel signals when the *thread* that started the worker ends: a worker must be stopped
    before it (a `with Worker(...)` block, a process pool shut down by the thread that used it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for number in _stopping_signals():
        signal.signal(number, signal.SIG_DFL)
    if not _parent_death_signal(signal.SIGTERM):
        _watch_parent(parent)
    if os.getppid() != parent:  # it died before the kernel was asked
        os._exit(128 + signal.SIGTERM)


def _stopping_signals() -> list[signal.Signals]:
    return [signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])]


def _parent_death_signal(number: int) -> bool:
    """prctl(PR_SET_PDEATHSIG): the kernel sends `number` when the parent exits, however."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, number, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    """Where the kernel cannot be asked: a thread that sees the worker adopted by another
    process (its parent died) and terminates it. Windows never re-parents: no watch there."""
    if sys.platform == "win32":
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="tidegate-parent-watch", daemon=True).start()


@contextmanager
def temporary_folder(purpose: str) -> Iterator[Path]:
    """A new folder in the system's temporary directory, removed afterwards; first the folders
    that killed tidegate processes left there are removed."""
    remove_abandoned_folders()
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{purpose}-{os.getpid()}-"))
    lock = _hold(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def remove_abandoned_folders(directory: Path | None = None) -> list[Path]:
    """Remove the temporary folders of tidegate processes that are gone (their owner's lock is
    free), in `directory` (default: the system's temporary directory); returns them. Folders
    without a lock file (another program's, an older tidegate's) are left alone."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock files either
        return []
    removed = []
    root = Path(directory or tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for folder in root.glob(f"{PREFIX}*"):
            if folder.is_symlink() or not folder.is_dir():
                continue
            try:
                lock = os.open(folder / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # its owner is running
                os.close(lock)
                continue
            shutil.rmtree(folder, ignore_errors=True)
            os.close(lock)
            removed.append(folder)
    return removed


def _hold(folder: Path) -> int | None:
    """Lock a new file in `folder` for this process's lifetime (and its forked workers'). It is
    locked before it gets its name, so no one ever sees it unlocked while its owner lives."""
    try:
        import fcntl
    except ImportError:  # Windows: no abandoned folders are found there
        return None
    handle, path = tempfile.mkstemp(dir=folder, prefix=".lock-")
    fcntl.flock(handle, fcntl.LOCK_EX)
    os.replace(path, folder / LOCK_FILE)
    return handle
