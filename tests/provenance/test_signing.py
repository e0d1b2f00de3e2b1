"""C2PA through c2pa-python: sign with a CA-issued test certificate, validate, detect edits."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from omni.media import write_video
from omni.provenance.record import ProvenanceRecord
from omni.provenance.signing import ASSERTION, read_c2pa, sign_mp4

RECORD = ProvenanceRecord(checkpoint_sha256="ab" * 32, seed=1, conditions={"text": "a face"})


@pytest.fixture(scope="module")
def signed(tmp_path_factory, credentials):
    folder = tmp_path_factory.mktemp("signed")
    frames = np.random.default_rng(0).integers(0, 255, (4, 64, 64, 3), dtype=np.uint8)
    source = write_video(folder / "plain.mp4", frames, 25)
    sign_mp4(source, folder / "signed.mp4", RECORD, credentials.key, credentials.chain)
    return source, folder / "signed.mp4"


def test_signed_manifest_validates_and_is_trusted_with_the_anchor(signed, credentials) -> None:
    _, path = signed
    untrusted = read_c2pa(path)
    assert untrusted.present and untrusted.valid and not untrusted.trusted
    assert untrusted.record == RECORD.to_dict()
    assert untrusted.signer == "omni test signer, omni tests"
    trusted = read_c2pa(path, trust_anchors=credentials.ca)
    assert trusted.state == "Trusted" and trusted.failures == []


def test_edited_file_is_invalid(signed, tmp_path) -> None:
    _, path = signed
    data = bytearray(path.read_bytes())
    data[-64] ^= 0xFF  # inside the last media sample
    edited = tmp_path / "edited.mp4"
    edited.write_bytes(bytes(data))
    status = read_c2pa(edited)
    assert status.present and status.state == "Invalid" and not status.valid
    assert "assertion.bmffHash.mismatch" in status.failures


def test_unsigned_file_has_no_manifest(signed) -> None:
    source, _ = signed
    status = read_c2pa(source)
    assert not status.present and status.state is None and status.error is None


def test_self_signed_signer_is_refused_with_advice(signed, credentials, tmp_path) -> None:
    source, _ = signed
    key = serialization.load_pem_private_key(credentials.key.read_bytes(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    self_signed = tmp_path / "self.pem"
    self_signed.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ValueError, match="self-signed"):
        sign_mp4(source, tmp_path / "x.mp4", RECORD, credentials.key, self_signed)


def test_certificate_must_match_key(signed, credentials, tmp_path) -> None:
    source, _ = signed
    with pytest.raises(ValueError, match="C2PA signing failed"):
        sign_mp4(source, tmp_path / "x.mp4", RECORD, credentials.key, credentials.ca)


def test_bad_key_and_cert_files(signed, credentials, tmp_path) -> None:
    source, _ = signed
    with pytest.raises(ValueError, match="sign_key: expected a PEM file"):
        sign_mp4(source, tmp_path / "x.mp4", RECORD, tmp_path / "none.key", credentials.chain)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValueError, match="sign_cert: expected a PEM file"):
        sign_mp4(source, tmp_path / "x.mp4", RECORD, credentials.key, junk)


def test_assertion_label() -> None:
    assert ASSERTION == "org.omni.provenance"
