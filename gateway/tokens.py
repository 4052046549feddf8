"""Demo signing keys and `vcv token`. Production tokens come from an identity provider; this module exists
so the demo and the tests can mint real, verifiable EdDSA tokens without one."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Where `vcv token` and `vcv demo` keep the demo keys, tokens and data unless told otherwise.
DEFAULT_DATA_DIR = Path(".vcv")
KEY_FILE = "demo-signing-key.pem"
JWKS_FILE = "jwks.json"
KID = "vcv-demo-1"


def ensure_demo_signing_keys(data_dir: Path) -> Path:
    """Create the demo Ed25519 key pair in `data_dir` once; return the path of the public JWKS."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key_path, jwks_path = data_dir / KEY_FILE, data_dir / JWKS_FILE
    if key_path.exists() and jwks_path.exists():
        return jwks_path
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
    public_jwk.update({"kid": KID, "alg": "EdDSA", "use": "sig"})
    jwks_path.write_text(json.dumps({"keys": [public_jwk]}, indent=2))
    return jwks_path


def mint(data_dir: Path, *, role: str, purposes: list[str], subject: str | None = None, ttl_s: int = 3600,
         consultant_id: str | None = None, customer_id: str | None = None, partner_id: str | None = None,
         extra: dict[str, Any] | None = None) -> str:
    ensure_demo_signing_keys(data_dir)
    private = serialization.load_pem_private_key((data_dir / KEY_FILE).read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{data_dir / KEY_FILE} is not an Ed25519 key; delete it to have a new one made")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject or f"{role}:{consultant_id or customer_id or partner_id or uuid.uuid4().hex[:8]}",
        "role": role, "purposes": purposes, "iat": now, "exp": now + ttl_s,
    }
    for name, value in (("consultant_id", consultant_id), ("customer_id", customer_id),
                        ("partner_id", partner_id)):
        if value:
            claims[name] = value
    claims.update(extra or {})
    return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": KID})
