"""Git plumbing for updates: run git with argv lists (never a shell string), validate branch names, describe
the checkout ProxBalance runs from, and read what its remote offers.

Branch names from requests pass :func:`check_branch` (the rules of ``git check-ref-format --branch``, and then
git itself checks them) before they reach any git command, always after ``--`` or as ``remote/branch``.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from proxbalance import __version__
from proxbalance.config import Settings
from proxbalance.errors import ConflictError, UpstreamError, ValidationError

GIT_TIMEOUT = 120.0  # seconds for one git command (fetch over a slow link)
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
MAX_FILES = 500
MAX_COMMITS = 100


class GitError(UpstreamError):
    code = "git_error"


def git(cwd: Path, *args: str, timeout: float = GIT_TIMEOUT, check: bool = True) -> str:
    """Run ``git args...`` in ``cwd``; return stdout (stripped). Raises :class:`GitError` with git's stderr."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True, timeout=timeout,
                              env=env, check=False)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out after {timeout:g} s") from None
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if check and proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {redact_url(proc.stderr.strip())[:500]}",
                       details={"returncode": proc.returncode})
    return proc.stdout.strip()


def redact_url(text: str) -> str:
    """``https://user:token@host/...`` -> ``https://********@host/...``."""
    return _CREDENTIALS.sub("********@", text)


def check_branch(cwd: Path, name: str) -> str:
    """A valid branch name, or a 400 saying why."""
    bad = (not _BRANCH.match(name) or ".." in name or "//" in name or "@{" in name or name.endswith(
        (".", "/", ".lock")) or any(part.startswith(".") for part in name.split("/")) or name == "HEAD")
    if not bad:
        bad = subprocess.run(["git", "check-ref-format", "--branch", name], cwd=str(cwd), capture_output=True,
                             timeout=10, check=False).returncode != 0
    if bad:
        raise ValidationError(f"invalid branch name {name[:120]!r}", details={"field": "branch"})
    return name


@dataclass(frozen=True)
class Checkout:
    path: Path
    remote: str


def checkout(settings: Settings) -> Checkout | None:
    """The git checkout ProxBalance runs from (``updates.install_dir`` or this package's repository)."""
    path = Path(settings["updates.install_dir"]) if settings["updates.install_dir"] else \
        Path(__file__).resolve().parents[1]
    if not (path / ".git").exists():
        return None
    return Checkout(path, settings["updates.remote"])


def require_checkout(settings: Settings) -> Checkout:
    co = checkout(settings)
    if co is None:
        raise ConflictError(f"ProxBalance {installed_version()} is installed with pip, not from git: update it "
                            "with `pip install --upgrade proxbalance` (branches and rollback need a git install)",
                            code="not_a_git_install", details={"install_method": "pip"})
    return co


def installed_version() -> str:
    try:
        return metadata.version("proxbalance")
    except metadata.PackageNotFoundError:
        return __version__


def head(co: Checkout) -> tuple[str, str]:
    """(commit sha, branch name or "" when detached)."""
    sha = git(co.path, "rev-parse", "HEAD")
    branch = git(co.path, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return sha, branch


def dirty(co: Checkout) -> bool:
    return bool(git(co.path, "status", "--porcelain", "--untracked-files=no"))


def fetch(co: Checkout) -> None:
    git(co.path, "fetch", "--prune", "--quiet", co.remote)


def remote_ref(co: Checkout, branch: str) -> str:
    """``remote/branch`` after checking that it exists (404 otherwise)."""
    from proxbalance.errors import NotFoundError

    ref = f"{co.remote}/{branch}"
    if not git(co.path, "rev-parse", "--verify", "--quiet", f"refs/remotes/{ref}^{{commit}}", check=False):
        raise NotFoundError(f"branch {branch!r} does not exist on remote {co.remote!r}",
                            details={"branch": branch})
    return ref


def info(settings: Settings) -> dict:
    co = checkout(settings)
    out = {"version": installed_version(), "install_method": "git" if co else "pip"}
    if co is None:
        out["update_instructions"] = "pip install --upgrade proxbalance, then restart the services"
        return out
    sha, branch = head(co)
    url = git(co.path, "remote", "get-url", co.remote, check=False)
    out.update(commit=sha, commit_short=sha[:10], branch=branch, remote=co.remote, remote_url=redact_url(url),
               install_dir=str(co.path), dirty=dirty(co),
               commit_date=git(co.path, "log", "-1", "--format=%cI", "HEAD"),
               commit_subject=git(co.path, "log", "-1", "--format=%s", "HEAD"))
    return out


def check_update(settings: Settings) -> dict:
    co = require_checkout(settings)
    fetch(co)
    sha, branch = head(co)
    if not branch:
        return {"update_available": False, "commit": sha, "branch": "", "message": "detached HEAD: switch to a "
                "branch to get updates"}
    ref = remote_ref(co, branch)
    behind = int(git(co.path, "rev-list", "--count", f"HEAD..{ref}"))
    ahead = int(git(co.path, "rev-list", "--count", f"{ref}..HEAD"))
    latest = git(co.path, "rev-parse", ref)
    return {"update_available": behind > 0, "branch": branch, "commit": sha, "latest_commit": latest,
            "behind": behind, "ahead": ahead, "commits": commits(co, "HEAD", ref)}


def commits(co: Checkout, base: str, ref: str) -> list[dict]:
    text = git(co.path, "log", f"--max-count={MAX_COMMITS}", "--format=%H%x1f%an%x1f%cI%x1f%s", f"{base}..{ref}")
    out = []
    for line in filter(None, text.splitlines()):
        sha, author, date, subject = line.split("\x1f", 3)
        out.append({"commit": sha, "author": author, "date": date, "subject": subject})
    return out


def branches(settings: Settings) -> dict:
    co = require_checkout(settings)
    fetch(co)
    _, current = head(co)
    text = git(co.path, "for-each-ref", "--format=%(refname:strip=3)%1f%(objectname)%1f%(committerdate:iso-strict)"
               "%1f%(subject)", f"refs/remotes/{co.remote}/")
    items = []
    for line in filter(None, text.splitlines()):
        name, sha, date, subject = line.split("\x1f", 3)
        if name == "HEAD":
            continue
        items.append({"name": name, "commit": sha, "date": date, "subject": subject, "current": name == current})
    return {"branches": items, "current": current, "count": len(items)}


def preview(settings: Settings, branch: str) -> dict:
    co = require_checkout(settings)
    check_branch(co.path, branch)
    fetch(co)
    ref = remote_ref(co, branch)
    files = []
    for line in filter(None, git(co.path, "diff", "--name-status", f"HEAD...{ref}").splitlines()):
        status, _, path = line.partition("\t")
        files.append({"status": status, "path": path})
    return {"branch": branch, "commit": git(co.path, "rev-parse", ref), "commits": commits(co, "HEAD", ref),
            "files_changed": files[:MAX_FILES], "files_count": len(files),
            "behind": int(git(co.path, "rev-list", "--count", f"HEAD..{ref}")),
            "ahead": int(git(co.path, "rev-list", "--count", f"{ref}..HEAD"))}
