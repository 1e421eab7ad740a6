"""The audit signing keys in the chart: every service pod signs its audit chain with its
service's Ed25519 key, mounted read-only from a Secret (VIGIE_AUDIT_KEY_FILE points at it), and
writes a chain of its own (VIGIE_AUDIT_REPLICA = the pod's name), so that replicas sharing the
key never share a chain. The Secret is either the installer's (audit.signingKeys.existingSecret)
or generated at install and kept on upgrades: the last test runs the real helm against a fake
API server that holds the Secret, as `lookup` sees it on an upgrade."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import manifests
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from vigie_core.audit import public_key_bytes

Doc = dict[str, Any]
SECRET = "vigie-audit-keys"  # <fullname>-audit-keys for release "vigie"
MOUNT = "/etc/vigie/audit"
PEM_B64 = base64.b64encode(b"-----BEGIN PRIVATE KEY-----").decode()[:32]  # any PEM private key


def service_deployments(docs: list[Doc]) -> dict[str, Doc]:
    """The Vigie service Deployments (the controller writes no audit record), by service."""
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs
            if d.get("kind") == "Deployment" and d["metadata"]["name"] != "vigie-controller"}


def secrets(docs: list[Doc]) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Secret"}


def private_key(data_b64: str) -> Ed25519PrivateKey:
    key = load_pem_private_key(base64.b64decode(data_b64), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def pem_b64(key: Ed25519PrivateKey) -> str:
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return base64.b64encode(pem).decode()


def assert_pod_signs_with(deployment: Doc, service: str, secret: str) -> None:
    """The pod mounts only `<service>.pem` of `secret`, read-only, and its settings point at it;
    its chain is named after the pod."""
    name = deployment["metadata"]["name"]
    spec = deployment["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    source = volumes["audit-key"]["secret"]
    assert source["secretName"] == secret, name
    assert source["items"] == [{"key": f"{service}.pem", "path": f"{service}.pem"}], name
    assert source["defaultMode"] == 0o440, name  # not world-readable
    assert "optional" not in source, name  # a missing key stops the pod, never a silent new key
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == "audit-key"]
    assert mount == {"name": "audit-key", "mountPath": MOUNT, "readOnly": True}, name
    env = {e["name"]: e for e in c["env"]}
    assert env["VIGIE_AUDIT_KEY_FILE"]["value"] == f"{MOUNT}/{service}.pem", name
    assert env["VIGIE_AUDIT_REPLICA"] == {
        "name": "VIGIE_AUDIT_REPLICA", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}
    }, name


@pytest.mark.parametrize("docs_name", ["default_docs", "gpu_docs"])
def test_each_pod_mounts_its_services_key_read_only_from_the_secret(
        docs_name: str, request: pytest.FixtureRequest) -> None:
    docs = request.getfixturevalue(docs_name)
    pods = service_deployments(docs)
    assert {"ingest", "rules", "alerts"} <= set(pods)  # the services that audit what they do
    for service, deployment in pods.items():
        assert_pod_signs_with(deployment, service, SECRET)


def test_the_generated_secret_holds_one_distinct_key_per_service_and_outlives_the_release(
        default_docs: list[Doc]) -> None:
    secret = secrets(default_docs)[SECRET]
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    values = yaml.safe_load((manifests.CHART / "values.yaml").read_text())
    # every service of the chart, enabled or not: enabling face later finds its key there
    assert set(secret["data"]) == {f"{s}.pem" for s in values["services"]}
    public = {public_key_bytes(private_key(v)) for v in secret["data"].values()}
    assert len(public) == len(secret["data"])  # a key per service, not one shared


def test_an_existing_secret_is_mounted_and_no_key_is_rendered(helm: str) -> None:
    text = manifests.render_text(sets={"audit.signingKeys.existingSecret": "city-audit-keys",
                                       "services.face.enabled": "true",
                                       "services.face.masterKey.secretName": "face-key"})
    assert PEM_B64 not in text and "PRIVATE KEY" not in text
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert secrets(docs) == {}
    pods = service_deployments(docs)
    assert "face" in pods
    for service, deployment in pods.items():
        assert_pod_signs_with(deployment, service, "city-audit-keys")


def test_the_plain_manifests_carry_no_private_key(helm: str) -> None:
    for name in manifests.PLAIN:
        text = (manifests.MANIFESTS / name).read_text()
        assert PEM_B64 not in text and "PRIVATE KEY" not in text, name
        docs = [d for d in yaml.safe_load_all(text) if d]
        assert SECRET not in secrets(docs), name  # the installer creates it (README)
        for service, deployment in service_deployments(docs).items():
            assert_pod_signs_with(deployment, service, SECRET)


def test_a_replica_setting_from_values_is_not_doubled(helm: str) -> None:
    docs = manifests.render(sets={"services.rules.env.VIGIE_AUDIT_REPLICA": "r0"})
    (c,) = service_deployments(docs)["rules"]["spec"]["template"]["spec"]["containers"]
    assert [e for e in c["env"] if e["name"] == "VIGIE_AUDIT_REPLICA"] == [
        {"name": "VIGIE_AUDIT_REPLICA", "value": "r0"}]


@pytest.mark.parametrize("sets, message", [
    ({"audit.signingKeys.existingSecret": "Audit_Keys"}, "existingSecret"),
    ({"audit.signingKeys.secretName": "audit-keys"}, "secretName"),
    ({"audit.signingKeys.generate": "false"}, "generate"),
])
def test_values_schema_refuses_bad_audit_key_values(helm: str, sets: dict[str, str],
                                                    message: str) -> None:
    with pytest.raises(manifests.HelmError, match=message):
        manifests.render(sets=sets)


# -- upgrades: `lookup` against a (fake) API server --------------------------------------------

class FakeApiServer:
    """Just enough of a Kubernetes API server for helm's `lookup` of Secrets in namespace vigie:
    discovery of v1 and GET of the Secrets it holds (404 for the others)."""

    def __init__(self, folder: Path) -> None:
        self.secrets: dict[str, Doc] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                owner.requests.append(path)
                prefix = "/api/v1/namespaces/vigie/secrets/"
                body: Doc = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": "NotFound", "code": 404}
                code = 404
                if path == "/api/v1":
                    code, body = 200, {"kind": "APIResourceList", "groupVersion": "v1",
                                       "resources": [{"name": "secrets", "namespaced": True,
                                                      "kind": "Secret", "singularName": "secret",
                                                      "verbs": ["get", "list"]}]}
                elif path == "/api":
                    code, body = 200, {"kind": "APIVersions", "versions": ["v1"]}
                elif path == "/apis":
                    code, body = 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
                elif path.startswith(prefix) and path[len(prefix):] in owner.secrets:
                    code, body = 200, owner.secrets[path[len(prefix):]]
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.kubeconfig = folder / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {
                "server": f"http://127.0.0.1:{self.server.server_address[1]}"}}],
            "users": [{"name": "fake", "user": {"token": "fake"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
        self.kubeconfig.chmod(0o600)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def render(self) -> list[Doc]:
        """What `helm upgrade` would apply: the chart rendered with cluster lookups."""
        text = manifests.helm("template", manifests.RELEASE, str(manifests.CHART),
                              "--namespace", manifests.NAMESPACE, "--dry-run=server",
                              "--kubeconfig", str(self.kubeconfig))
        return [d for d in yaml.safe_load_all(text) if d]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api_server(helm: str, tmp_path: Path) -> Iterator[FakeApiServer]:
    server = FakeApiServer(tmp_path)
    yield server
    server.close()


def test_an_upgrade_keeps_the_generated_keys_and_adds_only_missing_ones(
        api_server: FakeApiServer) -> None:
    installed = secrets(api_server.render())[SECRET]  # install: nothing to find, new keys
    assert f"/api/v1/namespaces/vigie/secrets/{SECRET}" in api_server.requests
    # the cluster now holds it, as an older release left it: no key for face yet
    kept = {k: v for k, v in installed["data"].items() if k != "face.pem"}
    api_server.secrets[SECRET] = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                  "metadata": {"name": SECRET, "namespace": "vigie"},
                                  "data": kept}
    upgraded = secrets(api_server.render())[SECRET]
    assert {k: upgraded["data"][k] for k in kept} == kept  # every existing key, byte for byte
    assert set(upgraded["data"]) == set(installed["data"])
    private_key(upgraded["data"]["face.pem"])  # the missing one, generated
    # and a key the installer replaced in the Secret is the one rendered
    own = pem_b64(Ed25519PrivateKey.generate())
    api_server.secrets[SECRET]["data"] = {**kept, "rules.pem": own}
    assert secrets(api_server.render())[SECRET]["data"]["rules.pem"] == own
