from __future__ import annotations

import base64
import io
import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from pixaudit.evidence import crypto
from pixaudit.evidence.models import Connection
from pixaudit.evidence.services import connection_create, connection_decrypted_params


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_roundtrip_and_format(field_keys):
    token = crypto.encrypt("hunter2-secret", aad="connection:1:token")
    assert token.startswith(f"v1:{crypto.current_key_id()}:")
    assert "hunter2" not in token
    assert crypto.decrypt(token, aad="connection:1:token") == "hunter2-secret"
    # a fresh nonce each time
    assert crypto.encrypt("x", aad="a") != crypto.encrypt("x", aad="a")


def test_wrong_aad_or_tampering_fails(field_keys):
    token = crypto.encrypt("hunter2-secret", aad="connection:1:token")
    with pytest.raises(crypto.DecryptionError, match="failed authentication"):
        crypto.decrypt(token, aad="connection:2:token")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(tampered, aad="connection:1:token")


def test_unknown_key_is_reported(field_keys):
    token = crypto.encrypt("v", aad="a")
    field_keys(_key())
    with pytest.raises(crypto.DecryptionError, match="not in PIXAUDIT_FIELD_KEYS"):
        crypto.decrypt(token, aad="a")


def test_malformed_key_names_the_variable(monkeypatch):
    monkeypatch.setenv("PIXAUDIT_FIELD_KEYS", base64.b64encode(b"short").decode())
    with pytest.raises(ImproperlyConfigured, match="PIXAUDIT_FIELD_KEYS.*32"):
        crypto.encrypt("v", aad="a")


def test_production_without_key_is_improperly_configured(monkeypatch, settings):
    monkeypatch.delenv("PIXAUDIT_FIELD_KEYS", raising=False)
    monkeypatch.delenv("PIXAUDIT_FIELD_KEYS_FILE", raising=False)
    settings.PRODUCTION = True
    with pytest.raises(ImproperlyConfigured, match="PIXAUDIT_FIELD_KEYS"):
        crypto.encrypt("v", aad="a")


def test_development_key_generated_once_with_0600(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("PIXAUDIT_FIELD_KEYS", raising=False)
    settings.VAR_DIR = tmp_path
    token = crypto.encrypt("v", aad="a")
    path = tmp_path / "field_keys"
    assert path.stat().st_mode & 0o777 == 0o600
    first = path.read_text()
    assert crypto.decrypt(token, aad="a") == "v"
    assert path.read_text() == first


@pytest.mark.django_db
def test_rotation_reencrypts_and_is_idempotent(field_keys, inventory):
    conn = connection_create(
        name="c1", collector_key=inventory.key, params={"token": "tok-old-1234"}
    )
    old_id = crypto.current_key_id()
    new = _key()
    field_keys(new, field_keys.first)  # new key first; the old one still decrypts before rotation
    conn.refresh_from_db()
    assert crypto.key_id_of(conn.secrets["token"]) == old_id
    assert connection_decrypted_params(connection=conn)["token"] == "tok-old-1234"

    call_command("rotate_secrets_key", stdout=(out := io.StringIO()))
    assert "re-encrypted 1 secret(s) in 1 row(s)" in out.getvalue()
    conn.refresh_from_db()
    assert crypto.key_id_of(conn.secrets["token"]) == crypto.current_key_id() != old_id

    call_command("rotate_secrets_key", stdout=(out2 := io.StringIO()))
    assert "re-encrypted 0 secret(s)" in out2.getvalue() and "1 already current" in out2.getvalue()

    field_keys(new)  # old key dropped after rotation: still decrypts
    conn = Connection.objects.get(pk=conn.pk)
    assert connection_decrypted_params(connection=conn)["token"] == "tok-old-1234"
