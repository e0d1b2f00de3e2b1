"""C2PA manifests through `c2pa-python`: sign a written mp4, read and validate one.

The manifest says the video was created by a trained model (IPTC digital source type
`trainedAlgorithmicMedia`) and carries the provenance record as the assertion `org.omni.provenance`.
Nothing here touches the network: no timestamp authority, no remote manifests, no OCSP.
C2PA refuses self-signed signing certificates: the signer needs a certificate issued by a CA
(for tests, a throw-away CA made with `cryptography`; see tests/provenance/conftest.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import c2pa
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from omni.provenance.record import ProvenanceRecord

ASSERTION = "org.omni.provenance"
SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}
_EC_ALGS = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}


@dataclass(frozen=True)
class C2paStatus:
    """A file's C2PA manifest as read and validated by c2pa-python."""

    present: bool
    state: str | None = None
    """c2pa's validation state: "Trusted", "Valid" (signature and hashes good, signer not in the
    trust anchors) or "Invalid"."""
    signer: str | None = None
    """Common name and issuer of the signing certificate."""
    failures: list[str] = field(default_factory=list)
    """c2pa failure codes, e.g. "assertion.bmffHash.mismatch" for an edited file."""
    record: dict | None = None
    """The omni provenance assertion, when the manifest has one."""
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.state in ("Valid", "Trusted")

    @property
    def trusted(self) -> bool:
        return self.state == "Trusted"

    def to_dict(self) -> dict:
        return {**asdict(self), "valid": self.valid, "trusted": self.trusted}


def _read_pem(path: str | os.PathLike, option: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{option}: expected a PEM file, got {path} (no such file)")
    data = path.read_bytes()
    if b"-----BEGIN" not in data:
        raise ValueError(f"{option}: expected a PEM file, got {path} (no PEM header)")
    return data


def _algorithm(key_pem: bytes) -> str:
    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as err:
        raise ValueError(f"sign_key: expected an unencrypted PEM private key ({err})") from err
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_ALGS:
        return _EC_ALGS[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ValueError(
        f"sign_key: expected an EC (P-256/384/521), RSA or Ed25519 key, got {type(key).__name__}"
    )


def manifest_definition(record: ProvenanceRecord, title: str) -> dict:
    """The C2PA manifest omni signs for a video."""
    return {
        "claim_generator_info": [{"name": record.generator, "version": record.version}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": SOURCE_TYPE}]},
            },
            {"label": ASSERTION, "data": record.to_dict()},
        ],
    }


def sign_mp4(
    source: str | os.PathLike,
    dest: str | os.PathLike,
    record: ProvenanceRecord,
    sign_key: str | os.PathLike,
    sign_cert: str | os.PathLike,
) -> None:
    """Write `dest`: `source` with a C2PA manifest signed by the key and certificate chain (PEM).

    `sign_cert` holds the signer's certificate followed by its issuers (not the root is fine).
    """
    key_pem = _read_pem(sign_key, "sign_key")
    cert_pem = _read_pem(sign_cert, "sign_cert")
    alg = _algorithm(key_pem)
    context = c2pa.Context.from_dict(
        {"verify": _OFFLINE, "builder": {"thumbnail": {"enabled": False}}}
    )
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg, cert_pem, key_pem, None))
        builder = c2pa.Builder(json.dumps(manifest_definition(record, Path(dest).name)), context)
        with open(source, "rb") as src, open(dest, "w+b") as out:
            builder.sign(signer, "video/mp4", src, out)
    except c2pa.C2paError as err:
        raise ValueError(
            f"C2PA signing failed: {err}. The certificate must be issued by a CA (C2PA refuses "
            "self-signed signing certificates), allow digitalSignature and match the key"
        ) from err


def read_c2pa(
    path: str | os.PathLike, trust_anchors: str | os.PathLike | None = None
) -> C2paStatus:
    """Read and validate the C2PA manifest of `path`; `trust_anchors` = PEM of trusted roots."""
    settings: dict = {"verify": _OFFLINE}
    if trust_anchors is not None:
        settings["trust"] = {"user_anchors": _read_pem(trust_anchors, "trust_anchors").decode()}
    try:
        reader = c2pa.Reader(str(path), context=c2pa.Context.from_dict(settings))
        manifest = reader.get_active_manifest() or {}
        state = reader.get_validation_state()
        results = reader.get_validation_results() or {}
    except c2pa.C2paError as err:
        if isinstance(err, c2pa.C2paError.ManifestNotFound):
            return C2paStatus(present=False)
        if isinstance(err, c2pa.C2paError.NotSupported):
            return C2paStatus(present=False, error=f"not a format C2PA reads ({err})")
        return C2paStatus(present=True, state="Invalid", error=str(err))
    failures = [f["code"] for f in results.get("activeManifest", {}).get("failure", [])]
    info = manifest.get("signature_info", {})
    signer = ", ".join(str(info[k]) for k in ("common_name", "issuer") if info.get(k)) or None
    record = next(
        (a.get("data") for a in manifest.get("assertions", []) if a.get("label") == ASSERTION),
        None,
    )
    return C2paStatus(True, state, signer, failures, record)
