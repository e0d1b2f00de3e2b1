"""Run a per-row function over a manifest: process pool or Ray Data, resumable, with progress.

Results are flushed every few rows to `<out>.parts/part-*.parquet` (each written atomically), so a
run killed mid-way and restarted recomputes only the rows whose part was not yet written, and the
merged manifest equals the one an uninterrupted run writes. The parts folder is removed once the
output manifest is in place.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from omni.nativelog import drop_if_empty, native_messages_to, redirect_native

Engine = Literal["local", "ray"]


def parts_dir(out: str | os.PathLike) -> Path:
    return Path(f"{out}.parts")


def load_parts(out: str | os.PathLike) -> pd.DataFrame:
    """Results already flushed by an earlier (interrupted) run; empty when there are none."""
    folder = parts_dir(out)
    files = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    if not files:
        return pd.DataFrame()
    # arrow unifies the parts' schemas (a column all null in one part is typed by the others)
    table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")
    return table.to_pandas().drop_duplicates("clip_id", keep="last")


def write_part(out: str | os.PathLike, rows: list[dict]) -> None:
    """Write finished rows as one more part file next to `out`, atomically (`load_parts` reads them)."""
    folder = parts_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"part-{uuid.uuid4().hex}.parquet"
    fd, tmp = tempfile.mkstemp(prefix=".part-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        pq.write_table(pa.Table.from_pylist(rows), tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def clear_parts(out: str | os.PathLike) -> None:
    shutil.rmtree(parts_dir(out), ignore_errors=True)


def single_threaded() -> None:
    """Keep a worker process to one core: with N workers, N processes already fill N cores, and
    libraries' own thread pools would only contend with each other. (mediapipe's graphs run on
    the calling thread anyway: `omni.mpgraph`.) Also keeps freed memory for reuse
    (`keep_freed_memory`)."""
    import cv2

    import omni.curation.score
    import omni.media

    os.environ["OMP_NUM_THREADS"] = "1"  # for libraries that load later in this process (torch)
    cv2.setNumThreads(1)
    omni.media.DECODE_THREADS = 1
    omni.curation.score.OVERLAP = False
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    keep_freed_memory()


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Make glibc's malloc serve large blocks from the heap and keep freed memory for reuse.

    Each clip allocates a few hundred MB in large blocks (a 4 s clip's frames alone are ~80 MB);
    by default glibc maps the largest of them fresh from the kernel and returns them on free, so
    every clip pays page faults for memory it just gave back (~4,500 per talk_news_b clip, ~5% of
    a worker's CPU, and two workers fault concurrently). A worker then holds its peak memory until
    it exits. False where the C library is not glibc (nothing changed)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 1 << 30) and mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1))


def native_log(out: str | os.PathLike) -> Path:
    """Where a run writing `out` puts what native libraries print (`omni.nativelog`)."""
    return Path(f"{out}.log")


def _worker_start(log: str) -> None:
    """A pool worker's initializer: one core (`single_threaded`), native messages to `log`."""
    single_threaded()
    redirect_native(log)


def _in_ray_worker(fn: Callable[[dict], dict], task: dict) -> dict:
    """`fn(task)` in a Ray worker process, kept to one core like the pool's workers."""
    single_threaded()
    return fn(task)


def _local(
    fn: Callable[[dict], dict], tasks: list[dict], workers: int, log: Path
) -> Iterator[dict]:
    if workers <= 1:
        keep_freed_memory()  # this process scores every clip, as a worker would
        for task in tasks:
            with native_messages_to(log):
                result = fn(task)
            yield result
        return
    # spawn: mediapipe and torch hold threads that a forked child must not inherit
    context = get_context("spawn")
    start = partial(_worker_start, str(log))
    with ProcessPoolExecutor(workers, mp_context=context, initializer=start) as pool:
        yield from pool.map(fn, tasks, chunksize=1)


def _ray(fn: Callable[[dict], dict], tasks: list[dict], workers: int, log: Path) -> Iterator[dict]:
    # Ray keeps its workers' output in its own session logs (log_to_driver=False)
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
    try:
        # tasks and results travel as JSON text: Arrow blocks cannot hold columns that are
        # None in one row and float in another
        items = [{"task": json.dumps(t)} for t in tasks]
        dataset = ray.data.from_items(items, override_num_blocks=max(1, len(tasks)))
        dataset = dataset.map(
            lambda row: {"result": json.dumps(_in_ray_worker(fn, json.loads(row["task"])))},
            concurrency=max(1, workers),
        )
        for row in dataset.iter_rows():
            yield json.loads(row["result"])
    finally:
        if started:
            ray.shutdown()


def run_rows(
    fn: Callable[[dict], dict],
    tasks: list[dict],
    out: str | os.PathLike,
    workers: int = 1,
    engine: Engine = "local",
    flush_every: int = 8,
    description: str = "scoring",
) -> pd.DataFrame:
    """Apply `fn` (a picklable top-level function: task dict -> result dict with `clip_id`) to every
    task, flushing results to parts; returns every result of this and earlier runs. What native
    libraries print goes to `native_log(out)` (removed when empty)."""
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    log = native_log(out)
    results: Iterable[dict] = (_ray if engine == "ray" else _local)(fn, tasks, workers, log)
    buffer: list[dict] = []
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, transient=False) as progress:
        bar = progress.add_task(description, total=len(tasks))
        for result in results:
            buffer.append(result)
            progress.advance(bar)
            if len(buffer) >= flush_every:
                write_part(out, buffer)
                buffer = []
        if buffer:
            write_part(out, buffer)
    if drop_if_empty(log):
        progress.console.print(
            f"[dim]messages of native libraries (mediapipe, TFLite): {log}[/dim]"
        )
    return load_parts(out)
