"""Render the Helm chart and validate what it renders, offline.

    python deploy/scripts/manifests.py check   # render default + every profile, validate, and
                                               # check deploy/k8s/manifests/ is up to date
    python deploy/scripts/manifests.py write   # regenerate deploy/k8s/manifests/ (kubectl users)

Validation: Kubernetes' own kinds with kubernetes-validate (its bundled schemas, strict: unknown
fields are errors) for the oldest and newest Kubernetes the chart supports; the third-party kinds
(KafkaTopic, ScaledObject, ServiceMonitor, Certificate, Issuer) with the chart's own schemas in
deploy/k8s/schemas/; Camera and Rule resources (the examples) with the openAPIV3Schema of their
CRDs.
The chart tests (deploy/k8s/tests/) import this module.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
CHART = K8S / "chart/vigie"
PROFILES = K8S / "profiles"
SCHEMAS = K8S / "schemas"
EXAMPLES = K8S / "examples"
MANIFESTS = K8S / "manifests"
KUBE_VERSIONS = ("1.29.0", "1.37.0")  # the chart's kubeVersion floor, and helm's own default
RELEASE, NAMESPACE = "vigie", "vigie"
THIRD_PARTY = {
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): "kafkatopic.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.json",
    ("cert-manager.io/v1", "Certificate"): "certificate.json",
    ("cert-manager.io/v1", "Issuer"): "issuer.json",
}
PLAIN = {  # deploy/k8s/manifests/<file>: the values files it is rendered with
    "vigie.yaml": [],
    "vigie-gpu-keda.yaml": [PROFILES / "gpu-keda.yaml"],
}
# Without a cluster to look the audit keys Secret up in, the chart would put new private keys in
# every render: the plain manifests name a Secret the installer creates (deploy/k8s/README.md).
PLAIN_SETS = {"audit.signingKeys.existingSecret": f"{RELEASE}-audit-keys"}


def helm_binary() -> str:
    """$HELM, else the one deploy/scripts/ensure-tools.sh builds."""
    tools = Path(os.environ.get("TOOLS", Path.home() / ".cache/vigie/tools"))
    return os.environ.get("HELM", str(tools / "bin/helm"))


class HelmError(RuntimeError):
    """helm refused the chart or the values (stderr in the message)."""


def helm(*args: str) -> str:
    proc = subprocess.run([helm_binary(), *args],  # noqa: S603 - our own helm, our arguments
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise HelmError(proc.stderr.strip() or proc.stdout.strip())
    return proc.stdout


def render_text(values: Sequence[Path] = (), sets: Mapping[str, str] | None = None, *,
                kube_version: str | None = None, include_crds: bool = False) -> str:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        args += ["--values", str(path)]
    for key, value in (sets or {}).items():
        args += ["--set", f"{key}={value}"]
    if kube_version:
        args += ["--kube-version", kube_version]
    if include_crds:
        args.append("--include-crds")
    return helm(*args)


def render(values: Sequence[Path] = (), sets: Mapping[str, str] | None = None, *,
           kube_version: str | None = None, include_crds: bool = False) -> list[dict[str, Any]]:
    text = render_text(values, sets, kube_version=kube_version, include_crds=include_crds)
    return [d for d in yaml.safe_load_all(text) if d]


@cache
def _schema(name: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / name).read_text()))


def strict(schema: Any) -> Any:
    """A CRD schema that refuses unknown fields, as `kubectl apply --validate=strict` (the API
    server's strict field validation) does; structural schemas cannot say so themselves."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of Vigie's own CRDs, strict."""
    out = {}
    for path in sorted((CHART / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            schema["properties"]["metadata"] = {"type": "object"}  # validated by the server
            out[(f"{group}/{version['name']}", kind)] = schema
    return out


def name_of(doc: Mapping[str, Any]) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def validate(docs: Iterable[Mapping[str, Any]],
             versions: Sequence[str] = KUBE_VERSIONS) -> list[str]:
    """Problems, one line each ("Kind/name: ..."); empty when everything is valid."""
    problems = []
    for doc in docs:
        key = (str(doc.get("apiVersion")), str(doc.get("kind")))
        schema = None
        if key in THIRD_PARTY:
            schema = _schema(THIRD_PARTY[key])
        elif key in crd_schemas():
            schema = crd_schemas()[key]
        if schema is not None:
            validator = jsonschema.Draft4Validator(schema)
            for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
                where = ".".join(str(p) for p in error.path)
                problems.append(f"{name_of(doc)}: {where}: {error.message}")
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(dict(doc), version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                problems.append(f"{name_of(doc)} (Kubernetes {version}): {where}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{name_of(doc)}: no schema for {key[0]} {key[1]} in "
                                f"Kubernetes {version} (add one to deploy/k8s/schemas/)")
    return problems


def plain_manifest(name: str) -> str:
    values = PLAIN[name]
    profile = f" -f {values[0].relative_to(ROOT)}" if values else ""
    sets = "".join(f" --set {k}={v}" for k, v in PLAIN_SETS.items())
    header = ("# Generated by `python deploy/scripts/manifests.py write`: the Helm chart rendered "
              f"with{' ' + values[0].name if values else ' its default values'}\n"
              f"#   helm template {RELEASE} deploy/k8s/chart/vigie -n {NAMESPACE} "
              f"--include-crds{profile}{sets}\n"
              "# Do not edit: change the chart (or render your own with your values).\n"
              f"# Create the Secret {PLAIN_SETS['audit.signingKeys.existingSecret']} (audit "
              "signing keys) first: see deploy/k8s/README.md.\n")
    return header + render_text(values, PLAIN_SETS, include_crds=True)


def profiles() -> list[list[Path]]:
    """Default values, then each profile."""
    return [[], *[[p] for p in sorted(PROFILES.glob("*.yaml"))]]


def check() -> int:
    failed = False
    for values in profiles():
        label = values[0].name if values else "default values"
        docs = render(values, include_crds=True)
        problems = validate(docs)
        kinds = sorted({str(d.get("kind")) for d in docs})
        print(f"{label}: {len(docs)} objects ({', '.join(kinds)}): "
              f"{'valid' if not problems else f'{len(problems)} problems'}")
        for p in problems:
            print(f"  {p}")
        failed |= bool(problems)
    examples = [d for path in sorted(EXAMPLES.glob("*.yaml"))
                for d in yaml.safe_load_all(path.read_text()) if d]
    problems = validate(examples)
    print(f"examples: {len(examples)} resources: "
          f"{'valid' if not problems else f'{len(problems)} problems'}")
    for p in problems:
        print(f"  {p}")
    failed |= bool(problems)
    for name in PLAIN:
        path = MANIFESTS / name
        if not path.exists() or path.read_text() != plain_manifest(name):
            print(f"{path.relative_to(ROOT)} is out of date: python deploy/scripts/manifests.py "
                  "write")
            failed = True
    return 1 if failed else 0


def write() -> int:
    MANIFESTS.mkdir(parents=True, exist_ok=True)
    for name in PLAIN:
        (MANIFESTS / name).write_text(plain_manifest(name))
        print(f"wrote {(MANIFESTS / name).relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["check", "write"])
    args = parser.parse_args(argv)
    try:
        return check() if args.action == "check" else write()
    except HelmError as exc:
        print(f"helm: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
