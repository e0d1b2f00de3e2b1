"""The provenance record: validation, metadata round trip, checkpoint hashing."""

from __future__ import annotations

import hashlib
import json

import pytest

from omni.provenance.record import COMMENT_PREFIX, ProvenanceRecord, file_sha256
from omni.provenance.watermark import Payload

SHA = "0123456789abcdef" * 4


def test_metadata_round_trip() -> None:
    record = ProvenanceRecord(
        checkpoint_sha256=SHA, seed=7, conditions={"audio": "a.wav", "text": "hi"}, watermark=False
    )
    meta = record.to_metadata()
    assert set(meta) == {"comment", "description", "date"}
    assert meta["comment"].startswith(COMMENT_PREFIX)
    assert "WITHOUT an invisible watermark" in meta["description"]
    assert ProvenanceRecord.from_metadata(meta) == record
    assert record.payload() == Payload(checkpoint="012345")
    assert ProvenanceRecord().payload() == Payload(checkpoint="000000")


def test_foreign_metadata_has_no_record() -> None:
    assert ProvenanceRecord.from_metadata({"comment": "made with a phone"}) is None
    assert ProvenanceRecord.from_metadata({}) is None


def test_damaged_or_future_records_are_refused() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        ProvenanceRecord.from_metadata({"comment": COMMENT_PREFIX + "{oops"})
    future = json.dumps({**ProvenanceRecord().to_dict(), "record_version": 99})
    with pytest.raises(ValueError, match="version 99 is not supported"):
        ProvenanceRecord.from_metadata({"comment": COMMENT_PREFIX + future})


@pytest.mark.parametrize("sha", ["abc", SHA.upper(), "g" * 64])
def test_checkpoint_hash_is_validated(sha: str) -> None:
    with pytest.raises(ValueError, match="64-digit lowercase hex"):
        ProvenanceRecord(checkpoint_sha256=sha)


def test_conditions_must_be_strings() -> None:
    with pytest.raises(ValueError, match="conditions"):
        ProvenanceRecord(conditions={"seed": 3})


def test_file_sha256(tmp_path) -> None:
    data = bytes(range(256)) * 5000  # more than one chunk
    path = tmp_path / "ckpt.safetensors"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
