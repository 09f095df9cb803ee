"""docs/ci.md is executable: its GitHub workflow, GitLab job and pre-commit hook, run
locally step by step with the same commands, block a bad access request and pass a good one.

The blocks are parsed out of the markdown. ``run:`` steps run in bash exactly as
written (``bash -eo pipefail``, like the runner), in a temporary repository; the
``uses:`` steps are what the runner provides and are stood in for: checkout = the
temporary repository, download-artifact = the snapshot put in ``snapshot/``, the
upload steps = a check that the file they upload exists. Installing is skipped (the
ledgerguard under test is first on PATH).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gateorg import BAD_CHANGE, BAD_LINE, GOOD_CHANGE, write_org

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"
BIN = Path(sys.executable).parent
INSTALL = re.compile(r"^\s*(pip install|apt-get|curl|unzip)")


def block(header: str) -> dict:
    """The ```yaml block of docs/ci.md whose first line is ``# <header>``."""
    for body in re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        if body.startswith(f"# {header}\n"):
            return yaml.safe_load(body)
    raise AssertionError(f"docs/ci.md has no yaml block for {header}")


def make_repo(root: Path, change_text: str) -> Path:
    """The access-request repository as the docs lay it out, after checkout and download."""
    write_org(root)
    (root / "policies").mkdir()
    (root / "policies.yaml").rename(root / "policies" / "pack.yaml")
    (root / "waivers.yaml").write_text("waivers: []\n", encoding="utf-8")
    pending = root / "access-requests" / "pending"
    pending.mkdir(parents=True)
    (pending / "REQ-1042.yaml").write_text(change_text, encoding="utf-8")
    return root


def sh(script: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def run_github_workflow(repo: Path) -> list[tuple[str, subprocess.CompletedProcess | None]]:
    """Each step of the gate job as the runner would take it; (name, process or None)."""
    steps = block(".github/workflows/access-gate.yml")["jobs"]["gate"]["steps"]
    done, failed = [], False
    for step in steps:
        name = step.get("name") or step.get("uses")
        if failed and "always()" not in str(step.get("if", "")):
            continue
        if "run" in step:
            if INSTALL.match(step["run"]):
                continue
            proc = sh(step["run"], repo)
            failed = failed or proc.returncode != 0
            done.append((name, proc))
        elif "upload" in step["uses"]:
            uploaded = step["with"].get("sarif_file") or step["with"]["path"]
            assert (repo / uploaded).exists(), f"step {name!r} would upload nothing"
            done.append((name, None))
        elif "download-artifact" in step["uses"]:
            assert step["with"]["path"] == "snapshot" and (repo / "snapshot" / "manifest.json").is_file()
    return done


def test_github_workflow_blocks_a_bad_request(tmp_path):
    repo = make_repo(tmp_path, BAD_CHANGE)
    steps = dict(run_github_workflow(repo))
    assert steps["Validate the change files"].returncode == 0
    gate = steps["Gate the access requests"]
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert (f"::error file=access-requests/pending/REQ-1042.yaml,line={BAD_LINE},col=5,"
            "title=ledgerguard SOD-001 high incompatible_duties::person:P1: " in gate.stdout)
    assert "Upload SARIF" in steps and "Keep the reports" in steps  # if: always()


def test_github_workflow_passes_a_good_request(tmp_path):
    repo = make_repo(tmp_path, GOOD_CHANGE)
    steps = run_github_workflow(repo)
    assert [name for name, _ in steps] == ["Validate the change files", "Gate the access requests",
                                           "Upload SARIF", "Keep the reports"]
    for name, proc in steps:
        assert proc is None or proc.returncode == 0, (name, proc.stdout, proc.stderr)
    gate = dict(steps)["Gate the access requests"]
    assert "::error" not in gate.stdout and "resolved: 2" in gate.stdout


@pytest.mark.parametrize(("change", "code"), [(BAD_CHANGE, 1), (GOOD_CHANGE, 0)])
def test_gitlab_job_commands(tmp_path, change, code):
    repo = make_repo(tmp_path, change)
    job = block(".gitlab-ci.yml")["access-gate"]
    commands = [c for c in job["script"] if not INSTALL.match(c)]
    assert len(commands) == 2  # validate, gate
    procs = [sh(c, repo) for c in commands]
    assert procs[0].returncode == 0 and procs[1].returncode == code, procs[1].stdout + procs[1].stderr
    for path in job["artifacts"]["reports"].values():
        assert (repo / path).is_file()


@pytest.mark.parametrize(("change", "code"), [(BAD_CHANGE, 1), (GOOD_CHANGE, 0)])
def test_pre_commit_hooks(tmp_path, change, code):
    repo = make_repo(tmp_path, change)
    hooks = {h["id"]: h for h in block(".pre-commit-config.yaml")["repos"][0]["hooks"]}
    staged = ["access-requests/pending/REQ-1042.yaml"]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for hook_id, expected in (("ledgerguard-validate", 0), ("ledgerguard-gate", code)):
        hook = hooks[hook_id]
        assert all(re.search(hook["files"], f) for f in staged)
        # pre-commit runs shlex.split(entry) + the staged file names, without a shell
        proc = subprocess.run([*shlex.split(hook["entry"]), *staged], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == expected, (hook_id, proc.stdout, proc.stderr)
