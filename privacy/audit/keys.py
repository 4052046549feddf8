"""The audit signing key (Ed25519). The private half signs checkpoints and lives only with the gateway, in
the environment (`VCV_AUDIT_SIGNING_KEY`, hex) or a file readable by it; the public half is all an auditor
needs to verify, and can be handed out freely. Neither is ever stored in the database."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ENV = "VCV_AUDIT_SIGNING_KEY"


def load_signing_key(path: Path | None = None) -> Ed25519PrivateKey:
    text = os.environ.get(ENV) or (path.read_text(encoding="ascii") if path is not None and path.is_file() else None)
    if text is None:
        raise ValueError(f"no audit signing key: set ${ENV} or give a key file")
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text.strip()))
    except ValueError:
        raise ValueError("the audit signing key must be 32 bytes of hex") from None


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(path.read_text(encoding="ascii").strip()))
    except (OSError, ValueError):
        raise ValueError(f"{path}: not an Ed25519 public key (32 bytes of hex)") from None


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def generate(directory: Path) -> tuple[Path, Path]:
    """`audit-signing.key` (owner-only) and `audit-signing.pub` in `directory`; existing keys are kept."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / "audit-signing.key", directory / "audit-signing.pub"
    if not private.exists():
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(raw.hex() + "\n")
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(private.read_text(encoding="ascii").strip()))
    public.write_text(public_hex(key) + "\n", encoding="ascii")
    return private, public
