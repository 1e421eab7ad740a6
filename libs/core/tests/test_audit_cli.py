"""`vigie audit public-key` and the `--keys` file of `vigie audit verify`, through the command's
main function: what an auditor types, what they read back. A keys file that cannot be used is
refused before Kafka is reached, with the file, the line and the reason, never a traceback (the
runs against a real audit topic are in tests/integration/test_audit_and_retention.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from vigie_core.audit import key_id, load_signing_key, public_key_bytes
from vigie_core.cli import TrustedKeys, main


def pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def test_public_key_prints_a_keys_file_line_for_the_key_a_service_signs_with(tmp_path, capsys):
    rules = load_signing_key(tmp_path / "rules.pem")  # as a service creates or reads it
    alerts = Ed25519PrivateKey.generate()
    (tmp_path / "alerts.pem").write_bytes(pem(alerts))
    assert main(["audit", "public-key", "--chain", "rules/*", str(tmp_path / "rules.pem")]) == 0
    assert main(["audit", "public-key", str(tmp_path / "alerts.pem")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"rules/* {public_key_bytes(rules).hex()}  # key "
                     f"{key_id(public_key_bytes(rules))}",
                     f"{public_key_bytes(alerts).hex()}  # key {key_id(public_key_bytes(alerts))}"]
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("\n".join(lines) + "\n")
    trusted = TrustedKeys.read(keys_file)  # what it printed is what verify reads
    assert trusted.for_chain("rules/vigie-rules-7c9d-x2x7q") == {public_key_bytes(rules),
                                                                  public_key_bytes(alerts)}
    assert trusted.for_chain("alerts/0") == {public_key_bytes(alerts)}


@pytest.mark.parametrize(("content", "words"), [
    (b"not a key", "not an unencrypted Ed25519 private key in PEM"),
    (b"", "not an unencrypted Ed25519 private key in PEM"),
    ("rsa", "not an unencrypted Ed25519 private key in PEM"),
    ("public", "not an unencrypted Ed25519 private key in PEM"),
])
def test_public_key_refuses_what_is_not_a_signing_key_without_echoing_it(
        tmp_path, capsys, content, words):
    if content == "rsa":
        from cryptography.hazmat.primitives.asymmetric import rsa

        content = rsa.generate_private_key(65537, 2048).private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    elif content == "public":
        from cryptography.hazmat.primitives.serialization import PublicFormat

        content = Ed25519PrivateKey.generate().public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path / "key.pem"
    path.write_bytes(content)
    assert main(["audit", "public-key", str(path)]) == 2
    out = capsys.readouterr()
    assert words in out.err and str(path) in out.err and out.out == ""
    assert "Traceback" not in out.err
    assert main(["audit", "public-key", str(tmp_path / "missing.pem")]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("chain", ["rules 0", "", "ru*les/", "rules/#0"])
def test_public_key_refuses_a_chain_its_line_could_not_carry(tmp_path, capsys, chain):
    load_signing_key(tmp_path / "rules.pem")
    assert main(["audit", "public-key", "--chain", chain, str(tmp_path / "rules.pem")]) == 2
    out = capsys.readouterr()
    assert "one chain name, or a prefix ending in '*'" in out.err and out.out == ""


KEY = "ab" * 32


@pytest.mark.parametrize(("text", "words"), [
    ("", "no public key in it"),
    ("# only a comment\n\n", "no public key in it"),
    (f"rules/0 {KEY[:-2]}\n", ":1: not an Ed25519 public key (expected 64 hex digits"),
    (f"{KEY}\nrules/0 zz{KEY[2:]}\n", ":2: not an Ed25519 public key"),
    (f"rules/0 {KEY} extra\n", ":1: expected '[chain] <64 hex digits>', found 3 words"),
    (f"ru*les/0 {KEY}\n", ":1: '*' may only end a chain name"),
    ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
     ":1: a PEM block, not a public key (this is a PRIVATE key: keep it secret"),
    ("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
     ":1: a PEM block, not a public key; write each key as 64 hex digits"),
])
def test_a_malformed_keys_file_is_refused_with_where_and_why(tmp_path, capsys, text, words):
    keys = tmp_path / "keys.txt"
    keys.write_text(text)
    # refused before Kafka is asked anything (no broker is running for this test)
    code = main(["audit", "verify", "--keys", str(keys)])
    out = capsys.readouterr()
    assert code == 2
    assert words in out.err and str(keys) in out.err, out.err
    assert "Traceback" not in out.err and out.out == ""
    assert "MC4CAQAwBQYDK2VwBCIEIA" not in out.err  # a secret pasted by mistake is not echoed


@pytest.mark.parametrize("what", ["missing", "directory", "binary"])
def test_an_unreadable_keys_file_is_refused_with_a_message(tmp_path, capsys, what):
    keys = tmp_path / "keys"
    if what == "directory":
        keys.mkdir()
    elif what == "binary":
        keys.write_bytes(b"\x30\x2e\x02\x01\x00\xff\xfe")  # a DER key, say
    code = main(["audit", "verify", "--keys", str(keys)])
    out = capsys.readouterr()
    assert code == 2 and "Traceback" not in out.err
    assert (f"cannot read the keys file {keys}" if what != "binary" else
            f"{keys}: not a text file of public keys") in out.err


def test_keys_by_chain_by_prefix_and_for_every_chain(tmp_path: Path) -> None:
    a, b, c, d = (f"{n:02x}" * 32 for n in range(1, 5))
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# city of Lyon, audit keys\nrules/0 {a}\nalerts/* {b}  # alerts pods\n"
                    f"   {c}\nrules/0 {d}\n")
    trusted = TrustedKeys.read(keys)
    as_bytes = {x: bytes.fromhex(x) for x in (a, b, c, d)}
    assert trusted.for_chain("rules/0") == {as_bytes[a], as_bytes[d], as_bytes[c]}
    assert trusted.for_chain("rules/1") == {as_bytes[c]}
    assert trusted.for_chain("alerts/vigie-alerts-1") == {as_bytes[b], as_bytes[c]}
    assert trusted.for_chain("alertsx/0") == {as_bytes[c]}  # "alerts/*" means "alerts/..."
    assert set(trusted.by_chain) == {"rules/0"}  # chains that must be on the trail
