"""packaging/helm/lynex-box rendered by Helm itself and every manifest checked against the Kubernetes schemas.

No `helm` binary is to be had from the registries this project reaches; `helm-python-sdk` (PyPI) carries Helm's
own Go SDK (v4) as a shared library, so `Chart.render` is `helm template`, `lint` is `helm lint`, and the values
are checked against values.schema.json as `helm install` would. Each rendered manifest is validated with
`kubernetes-validate` (strict: an unknown field fails) for the oldest Kubernetes the chart supports and the newest
the package knows. The ConfigMap's lynex.toml is loaded with the appliance's own loader.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from lynex_box.config import load_settings, settings_as_toml_keys

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "packaging" / "helm" / "lynex-box"
KUBERNETES = ["1.25.0", "1.37.0"]  # Chart.yaml's kubeVersion floor, and the newest kubernetes-validate knows

EVERYTHING: dict[str, Any] = {
    "image": {"repository": "registry.example.com/lynex-box", "tag": "0.1.0", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "registry"}],
    "config": {
        "server": {"public_url": "https://lynex.example.com", "log_level": "warning"},
        "wal": {"durability": "os", "group_commit_interval_ms": 2.5, "segment_bytes": 134217728},
        "bucket": {"type": "s3", "bucket": "lynex", "endpoint": "https://s3.example.com", "path_style": False},
        "encryption": {"kek_file": "/etc/lynex-box/secrets/kek"},
    },
    "secret": {"existingSecret": "lynex-credentials", "data": {}},
    "extraEnv": [{"name": "LYNEX_QUERY_THREADS", "value": "4"}],
    "service": {"type": "LoadBalancer", "port": 80, "annotations": {"example.com/lb": "internal"}},
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "21m"},
        "host": "lynex.example.com",
        "tlsSecretName": "lynex-tls",
    },
    "persistence": {"size": "200Gi", "storageClassName": "fast-ssd", "accessModes": ["ReadWriteOncePod"]},
    "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
    "podAnnotations": {"example.com/scrape": "true"},
    "nodeSelector": {"disktype": "ssd"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "lynex", "effect": "NoSchedule"}],
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(str(CHART)) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rendered manifests by kind (and name, when a kind repeats), NOTES.txt left out."""
    manifests: dict[str, dict[str, Any]] = {}
    for path, text in chart.render(values, name="obs", namespace="observability").items():
        if path.endswith(".txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                key = doc["kind"] if doc["kind"] not in manifests else f"{doc['kind']}/{doc['metadata']['name']}"
                manifests[key] = doc
    return manifests


def test_helm_lint_finds_no_error_or_warning() -> None:
    linted = helm.lint(str(CHART))
    assert linted["errors"] == []
    assert [m for m in linted["messages"] if m["severity"] > 1] == []  # 1 is INFO ("icon is recommended")


@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["defaults", "everything"])
@pytest.mark.parametrize("version", KUBERNETES)
def test_every_rendered_manifest_is_valid_kubernetes(chart: helm.Chart, values: dict[str, Any], version: str) -> None:
    manifests = render(chart, values)
    expected = {
        "ConfigMap",
        "Secret",
        "Service",
        "Service/obs-lynex-box-headless",
        "StatefulSet",
        "PodDisruptionBudget",
    }
    if values:
        expected = (expected - {"Secret"}) | {"Ingress"}  # an existing Secret is used, not created
    assert set(manifests) == expected
    for key, manifest in manifests.items():
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(
                f"{key} is not valid Kubernetes {version}: {exc.message} at {list(exc.path)}"
            ) from None


def test_values_yaml_is_valid_against_values_schema_json(chart: helm.Chart) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(defaults, schema)
    jsonschema.validate(EVERYTHING | {k: v for k, v in defaults.items() if k not in EVERYTHING}, schema)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"service": {"port": "http"}}, "/service/port"),
        ({"resources": {"requests": {"memory": "lots"}}}, "/resources/requests/memory"),
        ({"persistence": {"size": 50}}, "/persistence/size"),
        ({"config": {"wal": {"durability": ["fsync"]}}}, "/config/wal/durability"),
        ({"secret": {"data": {"kek": "not-hex"}}}, "/secret/data/kek"),
        ({"secret": {"data": {"bucket-password": "x"}}}, "/secret/data"),
        ({"replicaCount": 3}, "replicaCount"),
        ({"podDisruptionBudget": {"enabled": True, "minAvailable": 2}}, "/podDisruptionBudget/minAvailable"),
    ],
)
def test_bad_values_are_refused_by_the_schema_with_their_place(
    chart: helm.Chart, values: dict[str, Any], where: str
) -> None:
    with pytest.raises(helm.HelmValuesError) as refused:
        chart.render(values, name="obs")
    assert where in str(refused.value)


def test_the_configmap_is_a_lynex_toml_the_appliance_loads_with_the_given_values(
    chart: helm.Chart, tmp_path: Path
) -> None:
    toml = render(chart, EVERYTHING)["ConfigMap"]["data"]["lynex.toml"]
    assert tomllib.loads(toml) == EVERYTHING["config"]
    (tmp_path / "lynex.toml").write_text(toml)
    settings = load_settings(tmp_path / "lynex.toml", env={})
    assert settings.wal.durability == "os" and settings.wal.group_commit_interval_ms == 2.5
    assert settings.bucket.path_style is False and settings.server.public_url == "https://lynex.example.com"
    assert tomllib.loads(render(chart, {})["ConfigMap"]["data"]["lynex.toml"]) == {}


def test_the_pod_runs_as_the_image_user_probes_health_and_readiness_and_keeps_data_on_its_own_volume(
    chart: helm.Chart,
) -> None:
    manifests = render(chart, EVERYTHING)
    statefulset = manifests["StatefulSet"]
    pod = statefulset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    uid = re.search(r"^USER (\d+):(\d+)$", (ROOT / "packaging" / "Dockerfile").read_text(), re.M)
    assert (
        uid and pod["securityContext"]["runAsUser"] == int(uid[1]) and pod["securityContext"]["fsGroup"] == int(uid[2])
    )
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert statefulset["spec"]["replicas"] == 1
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    # the grace period covers [server] stop_timeout_s and the final flush
    assert pod["terminationGracePeriodSeconds"] >= load_settings(env={}).server.stop_timeout_s + 20
    env = {e["name"] for e in container["env"]}
    known = {f"LYNEX_{s}_{k}".upper() for s, keys in settings_as_toml_keys().items() for k in keys} | {"LYNEX_CONFIG"}
    assert env <= known, env - known
    secret_refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert secret_refs == {"lynex-credentials"}
    assert manifests["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["name"] == "http"


def test_the_resource_requests_cover_the_benchmarked_working_set() -> None:
    """bench/README.md (soak): about 600 MB steady and 1.8 GB peak for the server and its decode workers."""
    resources = yaml.safe_load((CHART / "values.yaml").read_text())["resources"]
    gib = {"Gi": 2**30, "Mi": 2**20}

    def size(quantity: str) -> int:
        number, unit = re.fullmatch(r"(\d+)(Gi|Mi)", quantity).groups()  # type: ignore[union-attr]
        return int(number) * gib[unit]

    assert size(resources["requests"]["memory"]) >= 600 * 10**6
    assert size(resources["limits"]["memory"]) >= 1.8e9 * 1.5
    assert "cpu" not in resources.get("limits", {}), "a CPU limit throttles ingest"
