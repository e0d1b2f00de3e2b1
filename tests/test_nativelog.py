"""omni.nativelog: native stderr into a file, Python's stderr kept, nesting restores the outer."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from omni.nativelog import drop_if_empty

_SCRIPT = """
import os, sys
from omni.nativelog import drop_if_empty, native_messages_to

def both(tag):
    os.write(2, f"native {tag}\\n".encode())
    print(f"python {tag}", file=sys.stderr, flush=True)

both("before")
with native_messages_to(sys.argv[1]):
    both("outer")
    with native_messages_to(sys.argv[2]):
        both("inner")
    both("outer again")
both("after")
with native_messages_to(sys.argv[3]):
    pass
print(drop_if_empty(sys.argv[1]), drop_if_empty(sys.argv[3]))
"""


def test_native_messages_nest_and_python_ones_stay_on_the_terminal(tmp_path):
    logs = [tmp_path / name for name in ("outer.log", "inner.log", "quiet.log")]
    run = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *map(str, logs)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [
        "native before", "python before", "python outer", "python inner", "python outer again",
        "native after", "python after",
    ]  # fmt: skip
    assert logs[0].read_text() == "native outer\nnative outer again\n"
    assert logs[1].read_text() == "native inner\n"
    assert run.stdout.split() == ["True", "False"]  # the empty log was removed
    assert not logs[2].exists()


_HELD = """
import glob, os, sys, tempfile
from omni.nativelog import native_messages_held

def noisy(error):
    with native_messages_held(expected=(KeyError,)):
        os.write(2, b"native noise\\n")
        if error is not None:
            raise error

noisy(None)
for error in (KeyError("k"), RuntimeError("crash")):
    try:
        noisy(error)
    except Exception as err:
        print(f"caught {type(err).__name__}", file=sys.stderr, flush=True)
print(len(glob.glob(os.path.join(tempfile.gettempdir(), "omni-native-*"))))
"""


def test_held_native_messages_show_only_for_an_unexpected_error(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", _HELD], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    # success: nothing; an expected error: nothing; a crash: the messages, then the error
    assert run.stderr.splitlines() == ["caught KeyError", "native noise", "caught RuntimeError"]
    assert run.stdout.strip() == "0"  # every temporary log removed


def test_a_process_without_stderr_still_runs(tmp_path):
    script = (
        "import os\n"
        "from omni.nativelog import native_messages_to\n"
        "with native_messages_to(os.environ['LOG']):\n"
        "    os.write(2, b'native\\n')\n"
        "print('done', flush=True)\n"
        "try:\n"
        "    os.fstat(2)\n"
        "except OSError:\n"
        "    print('closed again')\n"
    )
    log = tmp_path / "n.log"
    run = subprocess.run(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "LOG": str(log)},
        preexec_fn=lambda: os.close(2),  # the child starts with no fd 2 (as `2>&-`)
    )
    assert run.returncode == 0
    assert run.stdout.split("\n")[:2] == ["done", "closed again"]
    assert log.read_text() == "native\n"


def test_only_an_empty_regular_file_is_dropped(tmp_path):
    # native_messages_to(os.devnull) ran drop_if_empty on /dev/null, which an empty regular-file
    # check alone would delete (as root): a FIFO stands in for the device here
    pipe, empty, kept = tmp_path / "pipe", tmp_path / "empty.log", tmp_path / "kept.log"
    os.mkfifo(pipe)
    empty.touch()
    kept.write_text("W0000 a line\n")
    assert drop_if_empty(pipe) and stat.S_ISFIFO(pipe.stat().st_mode)
    assert not drop_if_empty(empty) and not empty.exists()
    assert drop_if_empty(kept) and kept.exists()
