"""Sealed boxes open only for their gateway and call; signatures bind the whole answer."""

import pytest

from apps.gateways import crypto


def test_a_sealed_box_opens_with_its_gateways_key_and_call_only():
    a, b = crypto.keys_generate(), crypto.keys_generate()
    box = crypto.seal(a.box_public, {"password": "s3cret"}, aad="gw-a:call-1")
    assert "s3cret" not in str(box)
    assert crypto.unseal(a, box, aad="gw-a:call-1") == {"password": "s3cret"}
    with pytest.raises(crypto.SealError):
        crypto.unseal(b, box, aad="gw-a:call-1")  # another gateway's key
    with pytest.raises(crypto.SealError):
        crypto.unseal(a, box, aad="gw-a:call-2")  # replayed into another call


def test_an_altered_answer_or_another_gateways_signature_does_not_verify():
    a, b = crypto.keys_generate(), crypto.keys_generate()
    document = {"gateway": "gw-a", "payload": {"ok": True}}
    signature = crypto.sign(a, document)
    crypto.verify(a.signing_public, document, signature)
    with pytest.raises(crypto.SealError):
        crypto.verify(a.signing_public, {**document, "payload": {"ok": False}}, signature)
    with pytest.raises(crypto.SealError):
        crypto.verify(b.signing_public, document, signature)
    with pytest.raises(crypto.SealError):
        crypto.verify(a.signing_public, document, "not base64!")


def test_the_key_file_is_private_and_reads_back(tmp_path):
    keys = crypto.keys_generate()
    path = tmp_path / "gw.key"
    crypto.keys_write(keys, path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = crypto.keys_load(path)
    assert (again.box_public, again.signing_public) == (keys.box_public, keys.signing_public)
    path.write_text("{}")
    with pytest.raises(crypto.SealError, match="cannot read"):
        crypto.keys_load(path)
