"""The Helm chart: lint, schema-valid output, and the settings an SRE relies on (GPU, probes,
security, disruption budgets, network policies, autoscaling, TLS), with default values and with
the GPU/KEDA profile; values.schema.json refusing bad values."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from typing import Any

import manifests
import pytest
from vigie_core.topics import REGISTRY

SERVICES = ("ingest", "detect", "face", "rules", "alerts")
GPU_SERVICES = ("detect", "face")
Doc = dict[str, Any]


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.get("kind") == kind]


def component(doc: Doc) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])


def deployments(docs: list[Doc]) -> dict[str, Doc]:
    return {component(d): d for d in of_kind(docs, "Deployment")}


def container(deployment: Doc) -> Doc:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(c)


def env(deployment: Doc) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(deployment)["env"] if "value" in e}


def pod_specs(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for d in docs:
        if d.get("kind") in ("Deployment", "Job"):
            yield f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"]


# -- lint and schemas ----------------------------------------------------------------------------

@pytest.mark.parametrize("profile", [None, "gpu-keda.yaml"])
def test_helm_lint_is_clean(helm: str, profile: str | None) -> None:
    args = [helm, "lint", "--strict", str(manifests.CHART)]
    if profile:
        args += ["--values", str(manifests.PROFILES / profile)]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


def test_default_values_render_valid_manifests(default_docs: list[Doc]) -> None:
    assert manifests.validate(default_docs) == []
    kinds = {d["kind"] for d in default_docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "KafkaTopic",
            "Certificate", "CustomResourceDefinition"} <= kinds


def test_gpu_keda_profile_renders_valid_manifests(gpu_docs: list[Doc]) -> None:
    assert manifests.validate(gpu_docs) == []
    assert {"ScaledObject", "ServiceMonitor"} <= {d["kind"] for d in gpu_docs}


def test_the_validation_catches_mistakes(default_docs: list[Doc]) -> None:
    """The checks above can fail: a misspelt field, a KEDA number, a topic without its cluster."""
    deployment = copy.deepcopy(of_kind(default_docs, "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    problems = manifests.validate([deployment], versions=("1.37.0",))
    assert problems and "readinesProbe" in problems[0]
    topic = copy.deepcopy(of_kind(default_docs, "KafkaTopic")[0])
    del topic["metadata"]["labels"]["strimzi.io/cluster"]
    assert any("strimzi.io/cluster" in p for p in manifests.validate([topic]))
    scaled = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
              "metadata": {"name": "x"}, "spec": {"scaleTargetRef": {"name": "x"}, "triggers": [
                  {"type": "kafka", "metadata": {"lagThreshold": 50}}]}}
    assert any("lagThreshold" in p for p in manifests.validate([scaled]))
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert any("no schema" in p for p in manifests.validate([unknown], versions=("1.37.0",)))


# -- security ------------------------------------------------------------------------------------

@pytest.mark.parametrize("docs_name", ["default_docs", "gpu_docs"])
def test_every_pod_runs_non_root_read_only_without_capabilities(
        docs_name: str, request: pytest.FixtureRequest) -> None:
    docs = request.getfixturevalue(docs_name)
    seen = 0
    for where, spec in pod_specs(docs):
        seen += 1
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 1000, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["enableServiceLinks"] is False, where
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc.get("privileged") is False, where
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert "/tmp" in mounts, where  # the only writable places are volumes
    assert seen >= 5


def test_only_the_controller_gets_an_api_token(default_docs: list[Doc]) -> None:
    tokens = {name: spec.get("automountServiceAccountToken")
              for name, spec in pod_specs(default_docs)}
    assert tokens.pop("Deployment/vigie-controller") is True
    assert set(tokens.values()) == {False}
    for sa in of_kind(default_docs, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


def test_controller_rbac_is_limited_to_its_resources(default_docs: list[Doc]) -> None:
    (role,) = of_kind(default_docs, "ClusterRole")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert resources == {"cameras", "rules", "cameras/status", "rules/status"}
    assert {g for rule in role["rules"] for g in rule["apiGroups"]} == {"vigie.io"}
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert not verbs & {"create", "delete", "*"}


def test_namespaced_controller_gets_roles_not_a_cluster_role(helm: str) -> None:
    docs = manifests.render(sets={"controller.namespaces": "{city,port}"})
    assert of_kind(docs, "ClusterRole") == []
    assert sorted(r["metadata"]["namespace"] for r in of_kind(docs, "Role")) == ["city", "port"]
    assert env(deployments(docs)["controller"])["VIGIE_CONTROLLER_NAMESPACES"] == "city,port"


# -- TLS and environment -------------------------------------------------------------------------

def test_every_component_serves_tls_from_its_own_certificate(default_docs: list[Doc]) -> None:
    certificates = {c["spec"]["secretName"]: c for c in of_kind(default_docs, "Certificate")
                    if not c["spec"].get("isCA")}
    for name, deployment in deployments(default_docs).items():
        e = env(deployment)
        assert e["VIGIE_HTTP_HOST"] == "0.0.0.0"
        assert (e["VIGIE_TLS_CERT_FILE"], e["VIGIE_TLS_KEY_FILE"]) == (
            "/etc/vigie/tls/tls.crt", "/etc/vigie/tls/tls.key")
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        secret = volumes["tls"]["secret"]["secretName"]
        assert secret in certificates, name
        dns = certificates[secret]["spec"]["dnsNames"]
        assert f"vigie-{name}" in dns and f"vigie-{name}.vigie.svc" in dns
        mounts = {m["name"]: m for m in container(deployment)["volumeMounts"]}
        assert mounts["tls"] == {"name": "tls", "mountPath": "/etc/vigie/tls", "readOnly": True}


def test_components_call_each_other_over_mutual_tls_with_least_roles(
        default_docs: list[Doc]) -> None:
    certificates = {c["spec"]["secretName"]: c for c in of_kind(default_docs, "Certificate")
                    if not c["spec"].get("isCA")}
    for name, deployment in deployments(default_docs).items():
        e = env(deployment)
        assert e["VIGIE_TLS_CLIENT_CA_FILE"] == e["VIGIE_TLS_CA_FILE"] == "/etc/vigie/tls/ca.crt"
        assert (e["VIGIE_TLS_CLIENT_CERT_FILE"], e["VIGIE_TLS_CLIENT_KEY_FILE"]) == (
            "/etc/vigie/tls/tls.crt", "/etc/vigie/tls/tls.key")
        assert e["VIGIE_AUTH_PUBLIC_METRICS"] == "false"
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        spec = certificates[volumes["tls"]["secret"]["secretName"]]["spec"]
        assert "client auth" in spec["usages"] and "server auth" in spec["usages"]
        # only the alerts console calls another component (RulesService) with a role
        roles = spec.get("subject", {}).get("organizations", [])
        assert roles == (["service"] if name == "alerts" else []), name
    alerts = env(deployments(default_docs)["alerts"])
    assert alerts["VIGIE_ALERTS_RULES_TARGET"] == "vigie-rules.vigie.svc:50051"
    rules_dns = certificates["vigie-rules-tls"]["spec"]["dnsNames"]
    assert "vigie-rules.vigie.svc" in rules_dns  # what alerts verifies


def test_the_token_store_is_a_mounted_secret_when_given(helm: str) -> None:
    docs = manifests.render(sets={"auth.tokensSecret.name": "vigie-tokens"})
    for name, deployment in deployments(docs).items():
        assert env(deployment)["VIGIE_AUTH_TOKENS_FILE"] == "/etc/vigie/auth/tokens.json"
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["tokens"]["secret"]["secretName"] == "vigie-tokens", name
        mounts = {m["name"]: m for m in container(deployment)["volumeMounts"]}
        assert mounts["tokens"]["readOnly"] is True
    default = manifests.render()
    assert all("VIGIE_AUTH_TOKENS_FILE" not in env(d) for d in deployments(default).values())


def test_tls_from_a_provided_secret(helm: str) -> None:
    docs = manifests.render(sets={"tls.mode": "secret", "tls.secretName": "vigie-tls"})
    assert of_kind(docs, "Certificate") == [] and of_kind(docs, "Issuer") == []
    for deployment in deployments(docs).values():
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["tls"]["secret"]["secretName"] == "vigie-tls"


def test_environment_has_no_duplicates_and_biometrics_are_off_by_default(
        default_docs: list[Doc], gpu_docs: list[Doc]) -> None:
    for docs in (default_docs, gpu_docs):
        for deployment in deployments(docs).values():
            names = [e["name"] for e in container(deployment)["env"]]
            assert len(names) == len(set(names))
            assert env(deployment)["VIGIE_KAFKA_BOOTSTRAP"] == "vigie-kafka-bootstrap.kafka:9092"
    assert env(deployments(default_docs)["detect"])["VIGIE_NO_BIOMETRICS"] == "true"
    assert "face" not in deployments(default_docs)  # face is opt-in
    assert env(deployments(gpu_docs)["face"])["VIGIE_NO_BIOMETRICS"] == "false"


def test_rules_command_is_a_value(helm: str) -> None:
    docs = manifests.render(sets={"services.rules.command": "{vigie,rules,worker}"})
    assert container(deployments(docs)["rules"])["command"] == ["vigie", "rules", "worker"]
    default = manifests.render()
    assert container(deployments(default)["rules"])["command"] == ["vigie", "serve", "rules"]


# -- probes --------------------------------------------------------------------------------------

def test_grpc_services_have_grpc_health_startup_and_readiness(default_docs: list[Doc],
                                                              gpu_docs: list[Doc]) -> None:
    for docs in (default_docs, gpu_docs):
        for name, deployment in deployments(docs).items():
            c = container(deployment)
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            liveness = c["livenessProbe"]["httpGet"]
            assert (liveness["path"], liveness["scheme"]) == ("/healthz", "HTTPS"), name
            assert liveness["port"] in ports, name  # a port the container declares
            if name == "controller":  # no gRPC: HTTPS readiness
                assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
                continue
            for probe in ("startupProbe", "readinessProbe"):
                command = c[probe]["exec"]["command"]
                assert command[0] == "grpc-health-probe", (name, probe)
                # the server requires a client certificate: the pod presents its own
                assert "-tls-client-cert=/etc/vigie/tls/tls.crt" in command, (name, probe)
                assert f"-addr=127.0.0.1:{ports['grpc']}" in command
                assert "-tls" in command  # the server only speaks TLS off loopback


def test_startup_probes_leave_time_for_model_loading(default_docs: list[Doc]) -> None:
    d = deployments(default_docs)
    for name, minimum_s in (("detect", 600), ("ingest", 60), ("rules", 60)):
        startup = container(d[name])["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= minimum_s, name
    # ... and liveness does not start before the startup probe has passed.
    assert "initialDelaySeconds" not in container(d["detect"])["livenessProbe"]


def test_http_readiness_when_grpc_probes_are_off(helm: str) -> None:
    docs = manifests.render(sets={"services.rules.probes.grpc": "false"})
    c = container(deployments(docs)["rules"])
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https",
                                              "scheme": "HTTPS"}
    assert c["startupProbe"]["httpGet"]["path"] == "/readyz"


def test_grace_period_covers_drain_and_flush(default_docs: list[Doc]) -> None:
    for deployment in deployments(default_docs).values():
        grace = float(env(deployment)["VIGIE_SHUTDOWN_GRACE_S"])
        spec = deployment["spec"]["template"]["spec"]
        # gRPC drain (grace/2) + services (grace) + the 30 s producer flush
        assert spec["terminationGracePeriodSeconds"] >= grace * 1.5 + 30


# -- GPU -----------------------------------------------------------------------------------------

def test_default_values_request_no_gpu(default_docs: list[Doc]) -> None:
    for name, deployment in deployments(default_docs).items():
        c = container(deployment)
        assert "nvidia.com/gpu" not in c["resources"].get("limits", {}), name
        assert "affinity" not in deployment["spec"]["template"]["spec"], name


def test_gpu_profile_schedules_detect_and_face_on_gpu_nodes(gpu_docs: list[Doc]) -> None:
    d = deployments(gpu_docs)
    products = {"detect": ["NVIDIA-L4", "NVIDIA-A10"], "face": ["NVIDIA-L4"]}
    for name in GPU_SERVICES:
        spec = d[name]["spec"]["template"]["spec"]
        c = container(d[name])
        assert c["resources"]["limits"]["nvidia.com/gpu"] == 1, name
        assert c["resources"]["requests"]["cpu"], name  # CPU still requested
        (term,) = spec["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert term["matchExpressions"] == [{"key": "nvidia.com/gpu.product", "operator": "In",
                                             "values": products[name]}]
        assert {"key": "nvidia.com/gpu", "operator": "Exists",
                "effect": "NoSchedule"} in spec["tolerations"]
        assert spec["runtimeClassName"] == "nvidia"
    assert env(d["detect"])["VIGIE_DETECT_DEVICE"] == "cuda"
    for name in ("ingest", "rules", "alerts"):
        c = container(d[name])
        assert "nvidia.com/gpu" not in c["resources"].get("limits", {}), name
        assert "runtimeClassName" not in d[name]["spec"]["template"]["spec"]


def test_gpu_products_and_a_required_node_affinity_are_exclusive(helm: str) -> None:
    with pytest.raises(manifests.HelmError, match="exclusive"):
        manifests.render(sets={
            "services.detect.gpu.enabled": "true",
            "services.detect.gpu.products": "{NVIDIA-L4}",
            "services.detect.affinity.nodeAffinity."
            "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]."
            "matchExpressions[0].key": "zone",
        })


# -- scaling and disruption ----------------------------------------------------------------------

def test_keda_scales_detect_face_rules_on_their_consumer_lag(gpu_docs: list[Doc]) -> None:
    scaled = {component(s): s for s in of_kind(gpu_docs, "ScaledObject")}
    assert set(scaled) == {"detect", "face", "rules"}
    expected = {"detect": ("vigie-detect", "vigie.frames.v1"),
                "face": ("vigie-face", "vigie.frames.v1"),
                "rules": ("vigie-rules", "vigie.detections.v1")}
    d = deployments(gpu_docs)
    for name, s in scaled.items():
        spec = s["spec"]
        assert spec["scaleTargetRef"]["name"] == d[name]["metadata"]["name"]
        (trigger,) = spec["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert (meta["consumerGroup"], meta["topic"]) == expected[name]
        assert meta["bootstrapServers"] == "vigie-kafka-bootstrap.kafka:9092"
        assert spec["maxReplicaCount"] <= REGISTRY.get(meta["topic"]).partitions
        assert "replicas" not in d[name]["spec"]  # KEDA owns the replica count
    assert d["ingest"]["spec"]["replicas"] == 3
    assert of_kind(gpu_docs, "HorizontalPodAutoscaler") == []


def test_hpa_and_keda_are_exclusive(helm: str) -> None:
    with pytest.raises(manifests.HelmError):
        manifests.render(sets={"services.detect.keda.enabled": "true",
                               "services.detect.autoscaling.enabled": "true"})
    docs = manifests.render(sets={"services.ingest.autoscaling.enabled": "true"})
    (hpa,) = of_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "vigie-ingest"
    assert "replicas" not in deployments(docs)["ingest"]["spec"]


def test_every_service_has_a_pdb_that_never_blocks_a_drain(default_docs: list[Doc]) -> None:
    pdbs = {component(p): p for p in of_kind(default_docs, "PodDisruptionBudget")}
    d = deployments(default_docs)
    assert set(pdbs) == {n for n in d if n != "controller"}
    for name, pdb in pdbs.items():
        assert pdb["spec"]["maxUnavailable"] == 1
        labels = d[name]["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_rwo_storage_means_recreate(default_docs: list[Doc], gpu_docs: list[Doc]) -> None:
    assert deployments(default_docs)["ingest"]["spec"]["strategy"] == {"type": "Recreate"}
    assert deployments(gpu_docs)["ingest"]["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployments(default_docs)["alerts"]["spec"]["strategy"] == {"type": "Recreate"}
    claims = {c["metadata"]["name"]: c for c in of_kind(default_docs, "PersistentVolumeClaim")}
    assert set(claims) == {"vigie-ingest-data", "vigie-alerts-data"}  # evidence, history
    for claim in claims.values():
        assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


# -- network policies ----------------------------------------------------------------------------

def test_each_component_is_fenced_by_a_network_policy(default_docs: list[Doc]) -> None:
    policies = {component(p): p for p in of_kind(default_docs, "NetworkPolicy")}
    d = deployments(default_docs)
    assert set(policies) == set(d)
    for name, policy in policies.items():
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        labels = d[name]["spec"]["template"]["metadata"]["labels"]
        assert spec["podSelector"]["matchLabels"].items() <= labels.items()
        egress_ports = {(p["port"], p.get("protocol")) for rule in spec["egress"]
                        for p in rule.get("ports", [])}
        assert {(53, "UDP"), (53, "TCP"), (9092, "TCP")} <= egress_ports, name
        sources = [peer for rule in spec["ingress"] for peer in rule["from"]]
        assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "vigie",
                                                "app.kubernetes.io/instance": "vigie"}}} in sources
        for rule in spec["ingress"]:
            assert rule.get("from") and rule.get("ports"), name  # nothing open to everyone
    ingest_ports = {p["port"] for rule in policies["ingest"]["spec"]["egress"]
                    for p in rule.get("ports", [])}
    assert 554 in ingest_ports  # RTSP cameras
    controller_ports = {p["port"] for rule in policies["controller"]["spec"]["egress"]
                        for p in rule.get("ports", [])}
    assert {443, 6443} <= controller_ports and 554 not in controller_ports


def test_service_monitors_scrape_https_with_the_component_ca(gpu_docs: list[Doc]) -> None:
    monitors = {component(m): m for m in of_kind(gpu_docs, "ServiceMonitor")}
    assert set(monitors) == set(deployments(gpu_docs))
    for name, m in monitors.items():
        (endpoint,) = m["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["scheme"], endpoint["path"]) == ("https", "https",
                                                                            "/metrics")
        assert endpoint["tlsConfig"]["ca"]["secret"]["key"] == "ca.crt"
        assert endpoint["tlsConfig"]["serverName"] == f"vigie-{name}.vigie.svc"
        assert m["metadata"]["labels"]["release"] == "prometheus"
        # /metrics needs the metrics role: Prometheus presents the scraper's certificate
        assert endpoint["tlsConfig"]["cert"]["secret"]["name"] == "vigie-scraper-tls"
        assert endpoint["tlsConfig"]["keySecret"]["name"] == "vigie-scraper-tls"
    (scraper,) = [c for c in of_kind(gpu_docs, "Certificate")
                  if c["metadata"]["name"] == "vigie-scraper"]
    assert scraper["spec"]["subject"]["organizations"] == ["metrics"]
    assert scraper["spec"]["usages"] == ["client auth", "digital signature"]


# -- values.schema.json --------------------------------------------------------------------------

@pytest.mark.parametrize("sets, message", [
    ({"services.detect.keda.maxReplicas": "20"}, "maxReplicas"),
    ({"securityContext.readOnlyRootFilesystem": "false"}, "readOnlyRootFilesystem"),
    ({"podSecurityContext.runAsNonRoot": "false"}, "runAsNonRoot"),
    ({"tls.mode": "none"}, "mode"),
    ({"tls.mode": "secret"}, "secretName"),
    ({"services.detect.gpus": "1"}, "gpus"),
    ({"kafka.bootstrap": "kafka"}, "bootstrap"),
    ({"listenHost": "127.0.0.1"}, "listenHost"),
    ({"services.alerts.replicas": "2"}, "replicas"),  # SQLite: one replica
    ({"services.ingest.gpu.enabled": "true"}, "gpu"),
    ({"services.detect.resources.requests": "null"}, "requests"),
    ({"services.detect.probes.startup.timeoutSeconds": "1"}, "timeoutSeconds"),
    ({"services.face.enabled": "true"}, "masterKey"),
    ({"services.alerts.database.secretName": "pg", "services.alerts.database.url": "x"}, "url"),
    ({"services.alerts.tls.roles": "{root}"}, "roles"),
    ({"auth.tokens": "x"}, "tokens"),
])
def test_values_schema_rejects_bad_values(helm: str, sets: dict[str, str], message: str) -> None:
    with pytest.raises(manifests.HelmError, match=message):
        manifests.render(sets=sets)


def test_every_service_block_is_documented_in_values(helm: str) -> None:
    text = (manifests.CHART / "values.yaml").read_text()
    for name in SERVICES:
        assert f"\n  {name}:\n" in text


def test_face_gets_its_master_key_and_a_shared_keystore(gpu_docs: list[Doc], helm: str) -> None:
    face = deployments(gpu_docs)["face"]
    e = env(face)
    assert e["VIGIE_FACE_MASTER_KEY_FILE"] == "/etc/vigie/face-key/master.key"
    assert e["VIGIE_FACE_KEYSTORE_DIR"] == "/var/lib/vigie/keystore"
    volumes = {v["name"]: v for v in face["spec"]["template"]["spec"]["volumes"]}
    assert volumes["master-key"]["secret"]["secretName"] == "vigie-face-master-key"
    mounts = {m["name"]: m for m in container(face)["volumeMounts"]}
    assert mounts["master-key"]["readOnly"] is True
    claim = volumes["keystore"]["persistentVolumeClaim"]["claimName"]
    (pvc,) = [p for p in of_kind(gpu_docs, "PersistentVolumeClaim")
              if p["metadata"]["name"] == claim]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]  # replicas share the keys
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert face["spec"]["strategy"]["type"] == "RollingUpdate"
    # On ReadWriteOnce storage, one pod at a time.
    docs = manifests.render(sets={"services.face.enabled": "true",
                                  "services.face.masterKey.secretName": "k"})
    assert deployments(docs)["face"]["spec"]["strategy"] == {"type": "Recreate"}


def test_alerts_history_snapshots_and_routes(default_docs: list[Doc], helm: str) -> None:
    alerts = deployments(default_docs)["alerts"]
    volumes = {v["name"]: v for v in alerts["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]  # SQLite and snapshots
    assert claim in {p["metadata"]["name"] for p in of_kind(default_docs, "PersistentVolumeClaim")}
    assert "VIGIE_ALERTS_DATABASE_URL" not in env(alerts)
    docs = manifests.render(sets={
        "services.alerts.replicas": "2", "services.alerts.database.secretName": "alerts-db",
        "services.alerts.persistence.accessModes": "{ReadWriteMany}",
        "services.alerts.routes.configMap": "alert-routes",
        "services.alerts.routes.secretName": "alert-channel-secrets"})
    alerts = deployments(docs)["alerts"]
    assert alerts["spec"]["replicas"] == 2
    c = container(alerts)
    (url,) = [e for e in c["env"] if e["name"] == "VIGIE_ALERTS_DATABASE_URL"]
    # The URL carries a password: from the Secret, never as a value.
    assert url["valueFrom"] == {"secretKeyRef": {"name": "alerts-db", "key": "url"}}
    assert env_values(c)["VIGIE_ALERTS_ROUTES_FILE"] == "/etc/vigie/alerts/routes/routes.yaml"
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["route-secrets"] == {"name": "route-secrets", "readOnly": True,
                                       "mountPath": "/etc/vigie/alerts/secrets"}
    assert manifests.validate(docs, versions=("1.37.0",)) == []


def env_values(c: Doc) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c["env"] if "value" in e}

