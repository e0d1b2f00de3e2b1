"""Where native libraries' own log lines go: a file, not the terminal.

mediapipe's and TFLite's C++ code write a dozen warnings to the process's stderr (file descriptor
2) whenever a model loads ("Created TensorFlow Lite XNNPACK delegate", "Feedback manager requires
a model with a single signature", "Using NORM_RECT without IMAGE_DIMENSIONS"), and no option of
theirs turns them off (google-ai-edge/mediapipe#5737). Commands that run mediapipe point fd 2 at
a log file beside their output while they run; Python's own `sys.stderr` (warnings, tracebacks,
rich's output) stays on the terminal. The redirect is process-wide: commands use it from their
main thread, one at a time (nested is fine).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _on_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a test runner's capture object
        return False


def _flush_stderr() -> None:
    if sys.stderr is not None:  # None when the process started without a stderr
        sys.stderr.flush()


def redirect_native(path: str | os.PathLike) -> tuple[int | None, object | None]:
    """Point fd 2 at `path` (appended) for good; `sys.stderr`, if it wrote to fd 2, now writes to
    what fd 2 was. Returns (a descriptor of the old fd 2, None if it was closed; the replaced
    `sys.stderr` or None)."""
    _flush_stderr()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (started with 2>&-): the log takes the free descriptor
        saved = None
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    if log != 2:
        os.dup2(log, 2)
        os.close(log)
    replaced = None
    if saved is not None and _on_fd2(sys.stderr):
        replaced = sys.stderr
        sys.stderr = open(os.dup(saved), "w", buffering=1, errors="backslashreplace")  # noqa: SIM115
    return saved, replaced


@contextmanager
def native_messages_to(path: str | os.PathLike) -> Iterator[Path]:
    """While inside, native code's stderr goes to `path` (nests: an inner one restores the outer);
    its folder is made if needed, and the file removed at the end if nothing was written."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    saved, replaced = redirect_native(path)
    try:
        yield Path(path)
    finally:
        _flush_stderr()
        if saved is None:
            os.close(2)  # closed again, as it was
        else:
            os.dup2(saved, 2)
            os.close(saved)
        if replaced is not None:
            sys.stderr.close()
            sys.stderr = replaced
        drop_if_empty(path)


def drop_if_empty(path: str | os.PathLike) -> bool:
    """Remove the log if nothing was written to it; True if it is kept (has messages). Only a
    regular file is removed: `native_messages_to(os.devnull)` must leave /dev/null alone."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        path.unlink()
    return path.exists()


@contextmanager
def native_messages_held(expected: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """`native_messages_to` a temporary file, removed at the end: for commands whose output
    folder must hold nothing else. If the block raises (other than one of the `expected`
    errors, which explain themselves) the messages are shown on stderr first."""
    fd, path = tempfile.mkstemp(prefix="omni-native-", suffix=".log")
    os.close(fd)
    try:
        with native_messages_to(path):
            yield
    except BaseException as err:
        held = Path(path)  # removed on the way out if nothing was written
        text = held.read_text(errors="replace") if held.exists() else ""
        if text and not isinstance(err, expected):
            sys.stderr.write(text)
        raise
    finally:
        Path(path).unlink(missing_ok=True)
