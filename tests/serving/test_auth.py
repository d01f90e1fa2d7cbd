"""CurveZMQ: owner-only key files, listed clients served, unknown keys refused, server unharmed."""
from __future__ import annotations

import os
import stat

import pytest
from serving_helpers import wait_for

from roboalign.policy.noop import NoopPolicy
from roboalign.serving import auth
from roboalign.serving.auth import ClientAuth, ServerAuth
from roboalign.serving.client import PolicyClient
from roboalign.serving.errors import AuthenticationFailed, RequestTimeout
from roboalign.serving.server import PolicyServer


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    out = tmp_path_factory.mktemp("keys") / "roboalign-keys"
    auth.generate_keys(out, clients=("robot1", "eval"))
    # A second, unrelated key set: its client is unknown to the first server.
    other = tmp_path_factory.mktemp("other") / "keys"
    auth.generate_keys(other, clients=("intruder",))
    return out, other


def test_generated_key_files_are_owner_only(keys):
    out, _ = keys
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"server.key", "server.key_secret", "robot1.key_secret", "eval.key"}
    assert (out / auth.AUTHORIZED_DIR / "robot1.key").is_file()
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert "secret-key" not in (out / "server.key").read_text()


def test_generate_refuses_to_overwrite_without_force(keys):
    out, _ = keys
    with pytest.raises(FileExistsError, match="--force"):
        auth.generate_keys(out, clients=("robot1",))


def test_secret_key_readable_by_others_is_refused(tmp_path):
    auth.generate_keys(tmp_path / "k")
    secret = tmp_path / "k" / "client.key_secret"
    os.chmod(secret, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        ClientAuth.from_dir(tmp_path / "k", "client")


def test_listed_client_is_served_and_unknown_key_is_refused_while_serving_goes_on(keys, obs):
    out, other = keys
    server_auth = ServerAuth.from_dir(out)
    assert len(server_auth.authorized_keys) == 2
    with PolicyServer(NoopPolicy(), "tcp://127.0.0.1:0", auth=server_auth) as server:
        with PolicyClient(server.endpoint, timeout_s=2.0, auth=ClientAuth.from_dir(out, "robot1")) as good:
            assert good.infer(obs).horizon == 16

            # Right server key, but a client key the server never listed.
            intruder_auth = ClientAuth(*auth.load_secret_keypair(other / "intruder.key_secret"),
                                       server_public_key=auth.load_public_key(out / "server.key"))
            with PolicyClient(server.endpoint, timeout_s=0.5, auth=intruder_auth) as intruder:
                with pytest.raises(AuthenticationFailed, match="refused"):
                    intruder.health()

            # No keys at all: the handshake never completes, nothing reaches the policy.
            with PolicyClient(server.endpoint, timeout_s=0.3) as plain:
                with pytest.raises(RequestTimeout):
                    plain.health()

            assert good.infer(obs).horizon == 16
            stats = good.stats()
            assert stats["auth"]["rejected"] >= 1 and stats["auth"]["accepted"] >= 1
            assert stats["requests"]["infer"] == 2  # only the authorised client's requests


def test_server_auth_needs_at_least_one_authorised_client(tmp_path):
    auth.generate_keys(tmp_path / "k")
    for p in (tmp_path / "k" / auth.AUTHORIZED_DIR).glob("*.key"):
        p.unlink()
    with pytest.raises(ValueError, match="no client public keys"):
        ServerAuth.from_dir(tmp_path / "k")


def test_refused_handshakes_are_counted_by_kind_plain_clients_included(keys):
    out, other = keys
    with PolicyServer(NoopPolicy(), "tcp://127.0.0.1:0", auth=ServerAuth.from_dir(out), warmup_iters=0) as server:
        # A plain client: its handshake fails before the ZAP handler is ever asked.
        with PolicyClient(server.endpoint, timeout_s=0.3) as plain:
            with pytest.raises(RequestTimeout):
                plain.health()
        assert wait_for(lambda: server.stats.auth_rejected_handshake >= 1)
        assert server.stats.auth_rejected_key == 0

        intruder_auth = ClientAuth(*auth.load_secret_keypair(other / "intruder.key_secret"),
                                   server_public_key=auth.load_public_key(out / "server.key"))
        with PolicyClient(server.endpoint, timeout_s=0.5, auth=intruder_auth) as intruder:
            with pytest.raises(AuthenticationFailed):
                intruder.health()
        with PolicyClient(server.endpoint, timeout_s=2.0, auth=ClientAuth.from_dir(out, "eval")) as good:
            stats = good.stats()
        rejected = stats["auth"]
        assert rejected["rejected_key"] >= 1 and rejected["rejected_handshake"] >= 1
        assert rejected["rejected"] == rejected["rejected_key"] + rejected["rejected_handshake"]
        assert rejected["accepted"] == 1


def test_a_curve_client_at_a_plain_server_is_counted_as_a_refused_handshake(keys):
    out, _ = keys
    with PolicyServer(NoopPolicy(), "tcp://127.0.0.1:0", warmup_iters=0) as server:
        with PolicyClient(server.endpoint, timeout_s=0.3, auth=ClientAuth.from_dir(out, "robot1")) as curve:
            with pytest.raises((AuthenticationFailed, RequestTimeout)):
                curve.health()
        assert wait_for(lambda: server.stats.auth_rejected_handshake >= 1)
