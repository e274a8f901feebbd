"""`lynex-box projects set-pii`: the mode, custom patterns and masked keys of a project, validated like the API."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from lynex_box.cli import main


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result


def test_set_pii_stores_the_setting_and_refuses_a_bad_pattern(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    project = json.loads(run("init", "--data-dir", data, "--json").stdout)["project_id"]
    args = ["projects", "set-pii", project, "redact", "--pattern", "acct=ACCT-[0-9]{6}", "--mask-key", "user.password"]
    out = json.loads(run(*args, "--data-dir", data, "--json").stdout)
    assert out["changed"] and out["pii"]["mode"] == "redact" and out["pii"]["is_default"] is False
    assert out["pii"]["custom_patterns"] == [{"name": "acct", "pattern": "ACCT-[0-9]{6}"}]
    assert out["pii"]["masked_keys"] == ["user.password"]

    out = json.loads(run("projects", "set-pii", project, "detect", "--data-dir", data, "--json").stdout)
    assert out["pii"]["mode"] == "detect" and out["pii"]["masked_keys"] == ["user.password"]  # lists kept

    bad = run("projects", "set-pii", project, "redact", "--pattern", r"x=(a)\1", "--data-dir", data, code=1)
    assert "not a valid RE2 expression" in bad.output
    run("projects", "set-pii", project, "redact", "--pattern", "no-equals", "--data-dir", data, code=2)
    out = json.loads(
        run("projects", "set-pii", project, "off", "--clear-patterns", "--data-dir", data, "--json").stdout
    )
    assert out["pii"]["mode"] == "off" and out["pii"]["custom_patterns"] == []
