"""docs/ci.md is executable: its scheduled snapshot workflow collects the snapshot the
gate jobs use, and its GitHub workflow, GitLab job and pre-commit hook, run locally
step by step with the same commands, block a bad access request and pass a good one.

The blocks are parsed out of the markdown. ``run:`` steps run in bash exactly as
written (``bash -eo pipefail``, like the runner), in a temporary repository; the
``uses:`` steps are what the runner provides and are stood in for: checkout = the
temporary repository, upload-artifact of the snapshot = the folder the collect step
wrote, download-artifact = that folder copied to ``snapshot/``, the other uploads = a
check that the file they upload exists. Installing is skipped (the ledgerguard under
test is first on PATH).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gateorg import BAD_CHANGE, BAD_LINE, GOOD_CHANGE, org_tables, write_org

from conftest import write_snapshot_dir

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"
BIN = Path(sys.executable).parent
INSTALL = re.compile(r"^\s*(pip install|apt-get|curl|unzip)")


def block_text(header: str) -> str:
    """The ```yaml block of docs/ci.md whose first line is ``# <header>``."""
    for body in re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        if body.startswith(f"# {header}\n"):
            return body
    raise AssertionError(f"docs/ci.md has no yaml block for {header}")


def block(header: str) -> dict:
    return yaml.safe_load(block_text(header))


def test_examples_ci_are_the_documented_files():
    """examples/ci/ holds each file of the docs to copy (its first line says where to)."""
    files = sorted((DOC.parents[1] / "examples" / "ci").iterdir())
    assert [f.name for f in files] == ["access-gate.yml", "access-snapshot.yml", "gitlab-ci.yml",
                                       "pre-commit-config.yaml"]
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert text == block_text(text.split("\n", 1)[0].removeprefix("# ")), f"{f} differs from docs/ci.md"


@pytest.fixture(scope="module")
def published_snapshot(tmp_path_factory) -> Path:
    """The artefact of access-snapshot.yml: its steps run on a repository whose
    sources.yaml reads the HR, directory and ERP exports of the gate tests' org."""
    repo = tmp_path_factory.mktemp("snapshot-repo")
    exports = write_snapshot_dir(repo / "exports", org_tables())
    (repo / "sources.yaml").write_text("timezone: Asia/Shanghai\nsources:\n" + "".join(
        f"  - {{name: {table}, kind: file, path: exports/{table}.csv, table: {table}}}\n"
        for table in org_tables()), encoding="utf-8")
    (exports / "manifest.json").unlink()
    steps = block(".github/workflows/access-snapshot.yml")["jobs"]["collect"]["steps"]
    runs = [step["run"] for step in steps if "run" in step and not INSTALL.match(step["run"])]
    assert len(runs) == 1  # collect
    proc = sh(runs[0], repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (upload,) = [step for step in steps if "upload-artifact" in step.get("uses", "")]
    snapshot = repo / upload["with"]["path"]
    assert (snapshot / "manifest.json").is_file()
    # the GitLab schedule collects with the same command
    gitlab = [c for c in block(".gitlab-ci.yml")["access-snapshot"]["script"] if not INSTALL.match(c)]
    assert [c.split("#")[0].strip() for c in gitlab] == [runs[0].strip()]
    return snapshot


def make_repo(root: Path, change_text: str, snapshot: Path | None = None) -> Path:
    """The access-request repository as the docs lay it out, after checkout and download
    (of ``snapshot``, else the org's hand-made one)."""
    write_org(root)
    if snapshot is not None:
        shutil.rmtree(root / "snapshot")
        shutil.copytree(snapshot, root / "snapshot")
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


def run_github_workflow(repo: Path) -> list[tuple[str, subprocess.CompletedProcess | Path]]:
    """Each step of the gate job as the runner would take it: (name, its process), or
    for an upload (name, what it uploads); a step skipped by its ``if:`` is left out."""
    steps = block(".github/workflows/access-gate.yml")["jobs"]["gate"]["steps"]
    done, failed = [], False
    for step in steps:
        name = step.get("name") or step.get("uses")
        condition = str(step.get("if", ""))
        if failed and "always()" not in condition:
            continue
        needs_file = re.search(r"hashFiles\('([^']+)'\) != ''", condition)
        if needs_file and not (repo / needs_file.group(1)).exists():
            continue
        if "run" in step:
            if INSTALL.match(step["run"]):
                continue
            proc = sh(step["run"], repo)
            failed = failed or proc.returncode != 0
            done.append((name, proc))
        elif "upload" in step["uses"]:
            done.append((name, repo / (step["with"].get("sarif_file") or step["with"]["path"])))
        elif "download-artifact" in step["uses"]:
            assert step["with"]["path"] == "snapshot" and (repo / "snapshot" / "manifest.json").is_file()
    return done


def test_github_workflow_blocks_a_bad_request(tmp_path, published_snapshot):
    repo = make_repo(tmp_path, BAD_CHANGE, published_snapshot)
    steps = dict(run_github_workflow(repo))
    gate = steps["Gate the access requests"]
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert (f"::error file=access-requests/pending/REQ-1042.yaml,line={BAD_LINE},col=5,"
            "title=ledgerguard SOD-001 high incompatible_duties::person:P1: " in gate.stdout)
    assert steps["Upload SARIF"].is_file() and steps["Keep the reports"].is_dir()  # if: always()


def test_github_workflow_passes_a_good_request(tmp_path, published_snapshot):
    repo = make_repo(tmp_path, GOOD_CHANGE, published_snapshot)
    steps = run_github_workflow(repo)
    assert [name for name, _ in steps] == ["Gate the access requests", "Upload SARIF", "Keep the reports"]
    gate, sarif, reports = (result for _, result in steps)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert sarif.is_file() and (reports / "junit.xml").is_file()
    assert "::error" not in gate.stdout and "resolved: 2" in gate.stdout


def test_github_workflow_annotates_a_malformed_request(tmp_path):
    repo = make_repo(tmp_path, "changes:\n  - {action: grant, system: erp, account_id: ghost, role: cashier}\n")
    steps = dict(run_github_workflow(repo))
    gate = steps["Gate the access requests"]
    assert gate.returncode == 2
    assert "Upload SARIF" not in steps  # nothing to upload; the reports upload only warns
    assert ("::error file=access-requests/pending/REQ-1042.yaml,line=2,col=5,title=ledgerguard%3A bad input::"
            "change 1 (grant): unknown account 'erp':'ghost'" in gate.stderr)


def run_all(jobs: list[tuple[list[str], Path]]) -> list[subprocess.CompletedProcess]:
    """Run independent commands (argv, cwd) at the same time; their results in order."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    procs = [subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for argv, cwd in jobs]
    results = []
    for (argv, _), proc in zip(jobs, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(argv, proc.returncode, out, err))
    return results


def bad_and_good_repos(tmp_path: Path) -> list[tuple[Path, int]]:
    """Two request repositories and the exit code their gate must end with."""
    return [(make_repo(tmp_path / "bad", BAD_CHANGE), 1), (make_repo(tmp_path / "good", GOOD_CHANGE), 0)]


def test_gitlab_job_commands(tmp_path):
    job = block(".gitlab-ci.yml")["access-gate"]
    commands = [c for c in job["script"] if not INSTALL.match(c)]
    assert len(commands) == 2  # validate, gate
    (bad, _), (good, _) = repos = bad_and_good_repos(tmp_path)
    # validate passes the request the gate blocks (it checks the file alone); the gates side by side
    validate, *gates = run_all([(["bash", "-eo", "pipefail", "-c", commands[0]], bad)]
                               + [(["bash", "-eo", "pipefail", "-c", commands[1]], repo) for repo, _ in repos])
    assert validate.returncode == 0, validate.stdout + validate.stderr
    for (repo, code), gate in zip(repos, gates, strict=True):
        assert gate.returncode == code, gate.stdout + gate.stderr
        for path in job["artifacts"]["reports"].values():
            assert (repo / path).is_file()
    issues = [json.loads((repo / job["artifacts"]["reports"]["codequality"]).read_text(encoding="utf-8"))
              for repo in (bad, good)]
    assert {"path": "access-requests/pending/REQ-1042.yaml", "lines": {"begin": BAD_LINE}} in [
        i["location"] for i in issues[0]]
    assert issues[1] == []


def test_pre_commit_hooks(tmp_path):
    hooks = {h["id"]: h for h in block(".pre-commit-config.yaml")["repos"][0]["hooks"]}
    staged = ["access-requests/pending/REQ-1042.yaml"]
    for hook in hooks.values():
        assert all(re.search(hook["files"], f) for f in staged)
    (bad, _), _ = repos = bad_and_good_repos(tmp_path)
    # pre-commit runs shlex.split(entry) + the staged file names, without a shell
    jobs = [([*shlex.split(hooks["ledgerguard-validate"]["entry"]), *staged], bad)]
    jobs += [([*shlex.split(hooks["ledgerguard-gate"]["entry"]), *staged], repo) for repo, _ in repos]
    results = run_all(jobs)
    assert [r.returncode for r in results] == [0, 1, 0], [(r.args, r.stdout, r.stderr) for r in results]
