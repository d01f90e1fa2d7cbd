"""The real thing: `roboalign serve` in its own process, the CLI's messages, the policy registry."""
from __future__ import annotations

import subprocess
import sys

import msgpack
import numpy as np
import pytest
from serving_helpers import RawPeer, make_observation

from roboalign.cli import main as cli_main
from roboalign.core.observation import Observation
from roboalign.errors import ConfigError
from roboalign.policy.noop import NoopPolicy
from roboalign.policy.registry import CHECKPOINT_FILE, PolicyLoadError, available_policies, load_policy, register_policy
from roboalign.serving import protocol
from roboalign.serving.client import PolicyClient, RemotePolicy
from roboalign.serving.process import ServerProcess, ServerProcessError


def test_server_process_serves_every_endpoint_survives_a_hostile_flood_and_stops_gracefully():
    server = ServerProcess("noop", extra_args=["--policy-arg", "horizon=4", "--policy-arg", "dim=14"])
    with server:
        assert server.health["status"] == "ok"
        with PolicyClient(server.endpoint, timeout_s=2.0) as client:
            meta = client.metadata()
            assert meta["policy"] == "noop" and meta["chunk_length"] == 4
            obs = make_observation(size=224)
            chunk = client.infer(obs)
            assert chunk.actions.shape == (4, 14) and np.array_equal(chunk.actions[0], obs.joint_positions)
            client.reset()
            rss_before = client.stats()["rss_bytes"]

            # 300 hostile requests of ~0.5 MB each: every one gets an error reply, memory stays flat.
            peer = RawPeer(server.endpoint)
            junk = np.zeros(500_000, np.uint8).tobytes()
            header = msgpack.packb({"version": 1, "kind": "infer", "id": 9,
                                    "arrays": [["images/a", "uint8", [500, 1000, 3], 1_500_000]]})
            try:
                for _ in range(300):
                    peer.send([header, junk])
                    assert peer.recv(timeout_s=5.0) is not None
            finally:
                peer.close()
            stats = client.stats()
            assert stats["errors"] == {"bad_array": 300}
            assert stats["rss_bytes"] - rss_before < 30 * 2**20, "memory must stay bounded under a flood"
            assert np.array_equal(client.infer(obs).actions[0], obs.joint_positions)
    assert server.proc.returncode == 0, server.log_tail()
    log = server.log_tail(20000)
    assert "roboalign serve: ready at tcp://127.0.0.1:" in log and "policy noop" in log
    assert "serve.stopping signal=SIGTERM" in log and "serve.stopped" in log


def test_expert_is_served_by_name_and_its_metadata_says_so():
    with ServerProcess("expert") as server, RemotePolicy(server.endpoint) as policy:
        meta = policy.metadata()
        assert meta["policy"] == "expert"
        assert len(meta["robot"]["joint_names"]) > 0


def test_unknown_policy_fails_fast_with_the_readable_reason():
    with pytest.raises(ServerProcessError, match="unknown policy 'nonsense'"):
        ServerProcess("nonsense", ready_timeout_s=20).start()


def test_busy_port_is_a_readable_error_and_exit_code_1(noop_server):
    result = subprocess.run([sys.executable, "-m", "roboalign.cli", "serve", "--policy", "noop",
                             "--bind", noop_server.endpoint], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "already in use" in result.stderr and "Traceback" not in result.stderr


def test_keys_generate_command_writes_owner_only_keys(tmp_path, capsys):
    assert cli_main(["keys", "generate", "--out", str(tmp_path / "k"), "--client", "robot1"]) == 0
    assert "robot1.key_secret" in capsys.readouterr().out
    assert (tmp_path / "k" / "authorized_clients" / "robot1.key").is_file()
    assert cli_main(["keys", "generate", "--out", str(tmp_path / "k")]) == 2  # no silent overwrite


# ---- registry ---------------------------------------------------------------------------------

def test_registry_builds_noop_with_arguments_and_lists_kinds():
    policy = load_policy("noop", horizon=3, dim=2)
    chunk = policy.infer(Observation(images={}, joint_positions=[1.0, 2.0]))
    assert chunk.actions.shape == (3, 2)
    assert {"expert", "noop"} <= set(available_policies())


def test_checkpoint_folder_names_its_kind(tmp_path):
    (tmp_path / CHECKPOINT_FILE).write_text("kind: noop\nargs: {horizon: 5}\n")
    assert load_policy(str(tmp_path)).metadata()["chunk_length"] == 5
    assert load_policy(tmp_path, horizon=2).metadata()["chunk_length"] == 2


@pytest.mark.parametrize("content, match", [
    (None, f"expected a {CHECKPOINT_FILE}"),
    ("kind: vla9000\n", "registered kinds"),
    ("kind: noop\nargs: {colour: red}\n", "bad arguments"),
])
def test_bad_checkpoint_folders_say_what_is_expected(tmp_path, content, match):
    if content is not None:
        (tmp_path / CHECKPOINT_FILE).write_text(content)
    with pytest.raises(PolicyLoadError, match=match):
        load_policy(str(tmp_path))


@pytest.mark.parametrize("content, match", [
    ("just text", "top level must be a mapping"),
    ("kindd: noop\n", r"kindd: unknown key; did you mean kind\?"),
    ("kind: noop\nargs: [1, 2]\n", r":2:1: args: expected a mapping"),
    ("kind: [unclosed\n", r":2:1: malformed YAML"),
])
def test_a_malformed_checkpoint_descriptor_is_a_located_config_error(tmp_path, content, match):
    (tmp_path / CHECKPOINT_FILE).write_text(content)
    with pytest.raises(ConfigError, match=match):
        load_policy(str(tmp_path))


def test_unknown_name_lists_the_choices():
    with pytest.raises(PolicyLoadError, match="choose one of"):
        load_policy("nonsense")


def test_new_kinds_register_by_name_and_refuse_silent_replacement():
    register_policy("test-hold", lambda **kw: NoopPolicy(**kw), description="test kind", replace=True)
    assert load_policy("test-hold", horizon=1).metadata()["chunk_length"] == 1
    with pytest.raises(ValueError, match="already registered"):
        register_policy("test-hold", NoopPolicy)


def test_protocol_version_is_advertised_in_health_and_metadata(noop_server):
    with PolicyClient(noop_server.endpoint) as client:
        assert client.health()["protocol_version"] == protocol.PROTOCOL_VERSION
