"""Ed25519 signing keys and the keyring of public keys.

Layout of a key folder (by default `DATA_DIR/prov/keys/`, where DATA_DIR is
the project's `.vpm/`):

    signing.key          the active private key, PEM (PKCS #8), mode 0600
    keyring/KEY_ID.pub   every public key ever generated, PEM

A key id is the first 32 hex digits of the sha256 of the raw 32-byte public
key. Rotating replaces `signing.key` and keeps the old public key in the
keyring, so records signed with a retired key still verify. The private key
is never logged, printed or put into an error message.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from vpm.prov.errors import SigningKeyExists, SigningKeyInvalid

log = logging.getLogger("vpm")

PRIVATE_KEY_FILE = "signing.key"
KEYRING_DIR = "keyring"
PUBLIC_KEY_SUFFIX = ".pub"


@dataclass(frozen=True)
class KeyInfo:
    """Id and paths of a key pair that `generate_key` created.

    Attributes:
        key_id: Fingerprint of the public key.
        private_key_path: File holding the private key (mode 0600).
        public_key_path: Keyring file holding the public key.
        retired_key_id: Id of the key this one replaced, if it rotated one.
    """

    key_id: str
    private_key_path: Path
    public_key_path: Path
    retired_key_id: str | None = None


class Signer:
    """Signs ledger records with one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.key_id = key_fingerprint(private_key.public_key())

    def sign(self, payload: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of `payload`."""
        return self._private_key.sign(payload)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._private_key.public_key()

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """Return the key id of a public key."""
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()[:32]


def generate_key(key_dir: Path, *, rotate: bool = False) -> KeyInfo:
    """Create an Ed25519 key pair in `key_dir` and make it the signing key.

    The public key is written to the keyring before the private key becomes
    active, so every record the new key signs can be verified.

    Args:
        key_dir: Key folder, created with mode 0700 if missing.
        rotate: Replace an existing signing key. Without it an existing key
            raises `SigningKeyExists`, so a key is never replaced by accident.

    Raises:
        SigningKeyExists: A signing key exists and `rotate` is false.
        SigningKeyInvalid: The existing signing key cannot be read.
    """
    private_path = key_dir / PRIVATE_KEY_FILE
    retired = load_signer(key_dir) if private_path.exists() else None
    if retired is not None and not rotate:
        raise SigningKeyExists(
            f"{private_path} already contains signing key {retired.key_id}. "
            "Pass --rotate to replace it (its public key stays in the keyring)."
        )

    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    key_id = key_fingerprint(private_key.public_key())
    public_path = _store_public_key(key_dir, private_key.public_key(), key_id)
    _write_private_key(private_path, private_key)
    log.info("Generated signing key %s in %s", key_id, key_dir)
    return KeyInfo(
        key_id=key_id,
        private_key_path=private_path,
        public_key_path=public_path,
        retired_key_id=retired.key_id if retired else None,
    )


def load_signer(key_dir: Path) -> Signer | None:
    """Load the signing key of `key_dir`, or return None when there is none.

    Raises:
        SigningKeyInvalid: The key file is readable by group or others, or
            is not an unencrypted Ed25519 private key in PEM.
    """
    path = key_dir / PRIVATE_KEY_FILE
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyInvalid(
            f"{path} is accessible by other users (mode {stat.S_IMODE(mode):04o}). "
            f"Run `chmod 600 {path}`."
        )

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, OSError) as exc:
        # The exception text of a parser may quote the input, so only its
        # type is shown, because the file contains a secret.
        raise SigningKeyInvalid(
            f"{path} is not a readable PEM private key ({type(exc).__name__}). "
            "Generate a new one with `vpm prov keygen --rotate`."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyInvalid(
            f"{path} contains a {type(key).__name__}, not an Ed25519 key. "
            "Generate one with `vpm prov keygen --rotate`."
        )
    return Signer(key)


def load_keyring(key_dir: Path) -> dict[str, Ed25519PublicKey]:
    """Load every public key in `key_dir/keyring`, keyed by key id.

    A file that is not an Ed25519 public key, or whose name does not match
    its fingerprint, is skipped with a warning. Records signed by it then
    verify as signed with an unknown key.
    """
    keyring: dict[str, Ed25519PublicKey] = {}
    folder = key_dir / KEYRING_DIR
    if not folder.is_dir():
        return keyring
    for path in sorted(folder.glob(f"*{PUBLIC_KEY_SUFFIX}")):
        key = _read_public_key(path)
        if key is not None:
            keyring[key_fingerprint(key)] = key
    return keyring


def verify_signature(
    public_key: Ed25519PublicKey, signature: bytes, payload: bytes
) -> bool:
    """Return whether `signature` is a valid signature of `payload`."""
    try:
        public_key.verify(signature, payload)
    except InvalidSignature:
        return False
    return True


def _read_public_key(path: Path) -> Ed25519PublicKey | None:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (ValueError, UnsupportedAlgorithm, OSError) as exc:
        log.warning("Skipped keyring file %s: not a PEM public key (%s)", path, exc)
        return None
    if not isinstance(key, Ed25519PublicKey):
        log.warning("Skipped keyring file %s: not an Ed25519 key", path)
        return None
    if key_fingerprint(key) != path.name.removesuffix(PUBLIC_KEY_SUFFIX):
        log.warning(
            "Skipped keyring file %s: its name does not match its key id %s",
            path,
            key_fingerprint(key),
        )
        return None
    return key


def _store_public_key(key_dir: Path, public_key: Ed25519PublicKey, key_id: str) -> Path:
    folder = key_dir / KEYRING_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = folder / f"{key_id}{PUBLIC_KEY_SUFFIX}"
    _write_atomic(path, pem, mode=0o644)
    return path


def _write_private_key(path: Path, private_key: Ed25519PrivateKey) -> None:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(path, pem, mode=0o600)


def _write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Write `data` to a new temporary file with `mode`, then rename it to `path`.

    The file is created with its final mode, so a private key is never
    readable by others, not even for a moment.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as stream:
            # The umask may have cleared bits of `mode`, so set it exactly.
            os.fchmod(stream.fileno(), mode)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)
