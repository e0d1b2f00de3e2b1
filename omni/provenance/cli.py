"""`omni verify FILE...`: is each video marked as made by omni?

Exit status, for scripting: 0 = every file carries omni's watermark; 1 = at least one file does
not (unmarked, or unreadable: its report says why); 2 = usage error (bad option or trust-anchor file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import track

from omni.provenance.video import VerifyReport
from omni.provenance.video import verify as verify_file

EXIT_MARKED, EXIT_UNMARKED, EXIT_USAGE = 0, 1, 2


@click.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of reports to stdout.")
@click.option(
    "--trust-anchors",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM file of root certificates to trust when validating C2PA manifests.",
)
def verify(files: tuple[Path, ...], as_json: bool, trust_anchors: Path | None) -> None:
    """Check videos for omni's invisible watermark, provenance record and C2PA manifest.

    Exit status: 0 when every FILE carries the watermark, 1 when any does not (or cannot be read),
    2 on a usage error.
    """
    err = Console(stderr=True)
    reports = []
    for path in track(files, description="verifying", console=err, transient=True):
        try:
            reports.append(verify_file(path, trust_anchors))
        except ValueError as error:  # only a bad trust-anchor file gets here
            raise click.UsageError(str(error)) from error
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        out = Console(highlight=False, soft_wrap=True)
        for report in reports:
            _print(out, report)
    sys.exit(EXIT_MARKED if all(r.marked for r in reports) else EXIT_UNMARKED)


def _print(out: Console, report: VerifyReport) -> None:
    mark = report.watermark
    name = escape(report.path)
    if mark is None:
        out.print(f"[bold red]{name}: NOT READABLE[/] ({escape(report.error or '')})")
    elif mark.found:
        payload = mark.payload
        out.print(
            f"[bold green]{name}: WATERMARK FOUND[/] confidence {mark.confidence:.6f} "
            f"(p={mark.p_value:.1e}, {mark.matched_bits}/40 known bits), "
            f"payload omni v{payload.version} checkpoint {payload.checkpoint}"
        )
    else:
        out.print(
            f"[bold yellow]{name}: no watermark[/] (p={mark.p_value:.2g}, "
            f"{mark.matched_bits}/40 known bits)"
        )
    out.print(f"  record: {_record_line(report)}")
    out.print(f"  C2PA: {_c2pa_line(report)}")
    if mark is not None and report.error:
        out.print(f"  note: {escape(report.error)}")


def _record_line(report: VerifyReport) -> str:
    record = report.record
    if record is None:
        return "none"
    sha = record.checkpoint_sha256[:12] if record.checkpoint_sha256 else "none"
    conditions = ", ".join(f"{k}={v}" for k, v in record.conditions.items()) or "none"
    line = escape(
        f"{record.generator} {record.version}, checkpoint {sha}, seed {record.seed}, "
        f"conditions {conditions}, created {record.created}, "
        f"watermark {'on' if record.watermark else 'OFF (--no-watermark)'}"
    )
    if report.consistent is False:
        line += " [bold red](the watermark names another checkpoint)[/]"
    return line


def _c2pa_line(report: VerifyReport) -> str:
    status = report.c2pa
    if not status.present:
        return "none" + (f" ({escape(status.error)})" if status.error else "")
    line = f"{status.state}"
    if status.signer:
        line += f", signed by {escape(status.signer)}"
    if status.failures:
        line += f", failures: {escape(', '.join(status.failures))}"
    if status.error:
        line += f" ({escape(status.error)})"
    return line
