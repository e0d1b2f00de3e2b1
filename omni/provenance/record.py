"""The provenance record: what made a video, kept in the container's metadata (and in C2PA).

mp4 keeps only its standard metadata keys (title, comment, description, date, ...), so the record
is JSON under `comment` with a fixed prefix, a plain sentence goes under `description`, and the
creation time under `date`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omni import __version__
from omni.provenance.watermark import Payload

RECORD_VERSION = 1
COMMENT_PREFIX = "omni-provenance "
_CHUNK = 1 << 20


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class ProvenanceRecord:
    """What generated a video. Written into every video omni makes; read back by `omni verify`."""

    checkpoint_sha256: str | None = None
    """sha256 hex digest of the checkpoint file (`file_sha256`), None for an untrained model."""
    seed: int | None = None
    """Random seed of the sampler."""
    conditions: dict[str, str] = field(default_factory=dict)
    """Conditions used, e.g. {"reference": "ref.png", "audio": "speech.wav", "text": "a man talks"}."""
    watermark: bool = True
    """False only when the user asked for --no-watermark (research); recorded so it shows."""
    generator: str = "omni"
    version: str = __version__
    created: str = field(default_factory=_now)
    """UTC time of writing, ISO 8601."""
    record_version: int = RECORD_VERSION

    def __post_init__(self) -> None:
        sha = self.checkpoint_sha256
        if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
            raise ValueError(
                f"checkpoint_sha256 must be a 64-digit lowercase hex sha256 (see file_sha256), "
                f"got {sha!r}"
            )
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.conditions.items()):
            raise ValueError(f"conditions must map names to strings, got {self.conditions!r}")

    def payload(self) -> Payload:
        """The watermark payload: format version and the first 6 hex digits of the checkpoint hash."""
        return Payload(checkpoint=(self.checkpoint_sha256 or "0" * 6)[:6])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ProvenanceRecord:
        version = data.get("record_version")
        if version != RECORD_VERSION:
            raise ValueError(
                f"provenance record version {version!r} is not supported (this omni reads "
                f"{RECORD_VERSION}); update omni to read it"
            )
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_metadata(self) -> dict[str, str]:
        """Container metadata keys (all kept by the mp4 muxer)."""
        mark = "with" if self.watermark else "WITHOUT"
        sha = self.checkpoint_sha256[:12] if self.checkpoint_sha256 else "none"
        return {
            "comment": COMMENT_PREFIX + json.dumps(self.to_dict(), sort_keys=True),
            "description": (
                f"AI-generated video made by {self.generator} {self.version} (checkpoint {sha}), "
                f"{mark} an invisible watermark. Check with `omni verify`."
            ),
            "date": self.created,
        }

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> ProvenanceRecord | None:
        """The record in a file's metadata, None when there is none; ValueError when unreadable."""
        comment = metadata.get("comment", "")
        if not comment.startswith(COMMENT_PREFIX):
            return None
        try:
            data = json.loads(comment[len(COMMENT_PREFIX) :])
        except json.JSONDecodeError as err:
            raise ValueError(f"the provenance record in the metadata is not JSON ({err})") from err
        if not isinstance(data, dict):
            raise ValueError(f"the provenance record must be a JSON object, got {type(data)}")
        return cls.from_dict(data)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
