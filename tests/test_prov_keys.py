"""Signing keys: generation, file modes, rotation and loading."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vpm.prov import generate_key, load_keyring, load_signer
from vpm.prov.errors import SigningKeyExists, SigningKeyInvalid
from vpm.prov.keys import key_fingerprint


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_writes_private_key_mode_0600(tmp_path: Path) -> None:
    info = generate_key(tmp_path / "keys")

    assert mode(info.private_key_path) == 0o600
    assert mode(tmp_path / "keys") == 0o700


def test_keygen_ignores_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        info = generate_key(tmp_path / "keys")
    finally:
        os.umask(previous)

    assert mode(info.private_key_path) == 0o600


def test_keygen_names_public_key_by_fingerprint(tmp_path: Path) -> None:
    info = generate_key(tmp_path)

    signer = load_signer(tmp_path)

    assert signer is not None
    assert signer.key_id == info.key_id
    assert info.public_key_path.name == f"{info.key_id}.pub"
    assert key_fingerprint(load_keyring(tmp_path)[info.key_id]) == info.key_id


def test_keygen_refuses_to_replace_key(tmp_path: Path) -> None:
    info = generate_key(tmp_path)

    with pytest.raises(SigningKeyExists, match="--rotate"):
        generate_key(tmp_path)

    assert load_signer(tmp_path).key_id == info.key_id  # type: ignore[union-attr]


def test_rotation_keeps_retired_public_key(tmp_path: Path) -> None:
    old = generate_key(tmp_path)

    new = generate_key(tmp_path, rotate=True)

    assert new.retired_key_id == old.key_id
    assert load_signer(tmp_path).key_id == new.key_id  # type: ignore[union-attr]
    assert set(load_keyring(tmp_path)) == {old.key_id, new.key_id}


def test_load_signer_without_key(tmp_path: Path) -> None:
    assert load_signer(tmp_path / "missing") is None


def test_load_signer_rejects_readable_key(tmp_path: Path) -> None:
    info = generate_key(tmp_path)
    info.private_key_path.chmod(0o644)

    with pytest.raises(SigningKeyInvalid, match="mode 0644.*chmod 600"):
        load_signer(tmp_path)


def test_key_error_hides_file_content(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    path.write_text("not-a-key SECRET-MATERIAL", encoding="utf-8")
    path.chmod(0o600)

    with pytest.raises(SigningKeyInvalid) as caught:
        load_signer(tmp_path)

    assert "SECRET-MATERIAL" not in str(caught.value)
    assert "not a readable PEM private key" in str(caught.value)


def test_signer_repr_hides_key(tmp_path: Path) -> None:
    generate_key(tmp_path)
    pem = (tmp_path / "signing.key").read_text(encoding="utf-8")

    signer = load_signer(tmp_path)

    body = "".join(pem.splitlines()[1:-1])
    assert body not in repr(signer)
    assert repr(signer) == f"Signer(key_id={signer.key_id!r})"  # type: ignore[union-attr]


def test_keyring_skips_file_with_wrong_name(tmp_path: Path) -> None:
    info = generate_key(tmp_path)
    info.public_key_path.rename(info.public_key_path.with_name("0" * 32 + ".pub"))

    keyring = load_keyring(tmp_path)

    assert keyring == {}


def test_keyring_skips_file_that_is_not_a_key(tmp_path: Path) -> None:
    (tmp_path / "keyring").mkdir()
    (tmp_path / "keyring" / ("a" * 32 + ".pub")).write_text("junk", encoding="utf-8")

    assert load_keyring(tmp_path) == {}
