"""Getting repositories with dulwich (no git binary): clone, fetch, check out.

Four forms of ``repository``: ``owner/name`` (with ``clone_method`` and
``base_url``), a full git URL, a local path to a git repository, and
``pypi:NAME==VERSION``, the sdist from PyPI unpacked and committed as a
one-commit repository. That commit's author, dates and message are fixed, so
the same sdist always gives the same commit id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dulwich import porcelain
from dulwich.errors import NotGitRepository
from dulwich.objects import Commit, ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo

from orchestrator.errors import StageError
from orchestrator.pipeline.specs import RepoSpec, pypi_requirement
from orchestrator.pipeline.storage import cache_lock

PYPI_SIMPLE = os.environ.get("FBENCH_PYPI_SIMPLE", "https://pypi.org/simple")
_AUTHOR = b"featurebench <featurebench@localhost>"


@dataclass(frozen=True)
class Checkout:
    path: Path
    commit: str
    slug: str  # owner__name, for run and case directory names


def checkout_spec(spec: RepoSpec, repos_dir: Path, base: Path, sdist_cache: Path) -> Checkout:
    """Fetch the spec's repository into ``repos_dir`` and check out its commit."""
    requirement = pypi_requirement(spec.repository)
    if requirement is not None:
        name, version = requirement
        path = repos_dir / f"pypi__{name}-{version}"
        with cache_lock(repos_dir, "clone", path.name):  # concurrent runs share the clone
            commit = materialize_sdist(name, version, path, sdist_cache)
        return Checkout(path, commit, f"pypi__{name}")
    source, slug = source_location(spec, base)
    path = repos_dir / slug
    with cache_lock(repos_dir, "clone", slug), _clone_or_fetch(source, path) as repo:
        commit = _resolve(repo, spec.commit, source)
        _check_out(repo, commit)
    return Checkout(path, commit, slug)


def source_location(spec: RepoSpec, base: Path) -> tuple[str, str]:
    """Where to clone from, and the owner__name used for directory names."""
    repository = spec.repository
    local = (base / repository).expanduser()
    if local.is_dir():
        return str(local.resolve()), _local_slug(local.resolve())
    if re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", repository):
        owner, name = repository.split("/")
        host = re.sub(r"^https?://", "", spec.base_url).rstrip("/")
        url = (
            f"git@{host}:{repository}.git"
            if spec.clone_method == "ssh"
            else f"{spec.base_url.rstrip('/')}/{repository}.git"
        )
        return url, f"{owner}__{name}"
    parts = re.split(r"[/:]", repository.rstrip("/").removesuffix(".git"))
    return repository, "__".join(parts[-2:])


def _local_slug(path: Path) -> str:
    """owner__name of a local repository: its origin's, else ``local__<directory>``.

    Harnesses and agents expect ids of the ``owner__name`` form, local or not.
    """
    try:
        with Repo(str(path)) as repo:
            url = repo.get_config().get((b"remote", b"origin"), b"url").decode()
    except (NotGitRepository, KeyError, UnicodeDecodeError):
        return f"local__{path.name}"
    parts = [part for part in re.split(r"[/:]", url.rstrip("/").removesuffix(".git")) if part]
    return "__".join(parts[-2:]) if len(parts) >= 2 else f"local__{path.name}"


def _clone_or_fetch(source: str, path: Path) -> Repo:
    try:
        repo = Repo(str(path))
    except NotGitRepository:
        if path.exists():
            shutil.rmtree(path)  # not a repository: something else left it; start again
        return _clone(source, path)
    return repo


def _clone(source: str, path: Path) -> Repo:
    """Clone beside ``path`` and rename it into place: a kill leaves no half-made clone."""
    staging = path.with_name(path.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)  # a clone cut short by a kill
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        porcelain.clone(source, str(staging), checkout=False, errstream=io.BytesIO()).close()
    except Exception as exc:  # dulwich raises many kinds; all mean "cannot get it"
        shutil.rmtree(staging, ignore_errors=True)
        raise StageError(f"cannot clone {source}: {exc}") from None
    os.replace(staging, path)
    return Repo(str(path))


def _resolve(repo: Repo, wanted: str | None, source: str) -> str:
    """The full commit id of ``wanted`` (sha, short sha, tag or branch), or the source's HEAD.

    Anything but a full commit id already here may have moved since the clone
    (a branch, HEAD, a local repository with new commits): fetched first.
    """
    pinned = wanted is not None and re.fullmatch(r"[0-9a-f]{40}", wanted) is not None
    if not (pinned and wanted is not None and ObjectID(wanted.encode()) in repo.object_store):
        _fetch(repo, source)
    found = _lookup(repo, wanted)
    if found is None:
        raise StageError(f"{source}: no commit, tag or branch {wanted!r}")
    return found


def _fetch(repo: Repo, source: str) -> None:
    """Fetch every ref of ``source`` into ``refs/remotes/origin/`` (tags to ``refs/tags/``)."""
    try:
        result = porcelain.fetch(
            repo, source, errstream=io.BytesIO(), outstream=io.StringIO(), include_tags=True
        )
    except Exception as exc:  # dulwich raises many kinds; all mean "cannot get it"
        raise StageError(f"cannot fetch {source}: {exc}") from None
    for name, sha in result.refs.items():
        if sha is None or name.endswith(b"^{}"):
            continue
        if name == b"HEAD":
            repo.refs[Ref(b"refs/remotes/origin/HEAD")] = sha
        elif name.startswith(b"refs/heads/"):
            repo.refs[Ref(b"refs/remotes/origin/" + name[len(b"refs/heads/") :])] = sha
        elif name.startswith(b"refs/tags/"):
            repo.refs[Ref(name)] = sha


def _lookup(repo: Repo, wanted: str | None) -> str | None:
    refs = {bytes(name): bytes(sha) for name, sha in repo.get_refs().items()}
    if wanted is None:
        for head in (b"refs/remotes/origin/HEAD", b"HEAD"):  # the source's, once fetched
            if head in refs:
                return refs[head].decode()
        return None
    for name in (f"refs/tags/{wanted}", f"refs/heads/{wanted}", f"refs/remotes/origin/{wanted}"):
        sha = refs.get(name.encode())
        if sha is not None:
            obj = repo[sha]
            while not isinstance(obj, Commit):  # annotated tags point at commits
                obj = repo[obj.object[1]]  # type: ignore[attr-defined]
            return obj.id.decode()
    if re.fullmatch(r"[0-9a-f]{4,40}", wanted):
        matches = [sha for sha in _commit_ids(repo) if sha.startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
    return None


def _commit_ids(repo: Repo) -> list[str]:
    return [sha.decode() for sha in repo.object_store if isinstance(repo.object_store[sha], Commit)]


def _check_out(repo: Repo, commit: str) -> None:
    """Reuse the work tree when HEAD already is ``commit``; else reset it hard."""
    if repo.head().decode() == commit and not _dirty(repo):
        return
    porcelain.reset(repo, "hard", commit.encode())


def _dirty(repo: Repo) -> bool:
    status = porcelain.status(repo, untracked_files="no")
    return bool(status.unstaged or any(status.staged.values()))


def head_commit(path: Path) -> str:
    with Repo(str(path)) as repo:
        return repo.head().decode()


def materialize_sdist(name: str, version: str, path: Path, sdist_cache: Path) -> str:
    """A one-commit git repository of the sdist, made once and reused."""
    marker = path / ".git" / "featurebench-sdist"
    if marker.is_file() and marker.read_text().strip() == head_commit(path):
        return head_commit(path)
    if path.exists():
        shutil.rmtree(path)  # left half-made by a killed run
    archive = fetch_sdist(name, version, sdist_cache)
    staging = path.with_name(path.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    newest = _unpack(archive, staging)
    commit = _commit_tree(staging, f"{name} {version} from its PyPI sdist", newest)
    if head_commit(staging) != commit:  # the marker says "complete": only once it is
        raise StageError(f"pypi:{name}=={version}: the unpacked sdist did not commit cleanly")
    (staging / ".git" / "featurebench-sdist").write_text(commit + "\n")
    os.replace(staging, path)
    return commit


def fetch_sdist(name: str, version: str, cache: Path) -> Path:
    """The sdist file of ``name==version`` (PEP 691 index), checked against its sha256."""
    cache.mkdir(parents=True, exist_ok=True)
    filename, url, digest = _find_sdist(name, version)
    target = cache / filename
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == digest:
        return target
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
    if hashlib.sha256(data).hexdigest() != digest:
        raise StageError(f"{url}: sha256 does not match the index; refusing the download")
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, target)
    return target


def _find_sdist(name: str, version: str) -> tuple[str, str, str]:
    normalized = re.sub(r"[-_.]+", "-", name).lower()
    request = urllib.request.Request(
        f"{PYPI_SIMPLE}/{normalized}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            index = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise StageError(f"pypi:{name}=={version}: PyPI has no project {name!r}") from None
        raise StageError(f"pypi:{name}=={version}: cannot read {request.full_url}: {exc}") from None
    except OSError as exc:
        raise StageError(f"pypi:{name}=={version}: cannot read {request.full_url}: {exc}") from None
    for entry in index.get("files", []):
        filename = entry["filename"]
        stem = re.sub(r"\.(tar\.gz|zip)$", "", filename)
        if stem == filename or "-" not in stem:
            continue
        project, _, found_version = stem.rpartition("-")
        if re.sub(r"[-_.]+", "-", project).lower() == normalized and found_version == version:
            return filename, entry["url"], entry["hashes"]["sha256"]
    raise StageError(f"pypi:{name}=={version}: PyPI has no sdist of that version")


def _unpack(archive: Path, into: Path) -> float:
    """Unpack the sdist's single top directory into ``into``; return its newest mtime."""
    scratch = into.with_name(into.name + ".unpack")
    shutil.rmtree(scratch, ignore_errors=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(scratch)
    else:
        with tarfile.open(archive) as tarred:
            tarred.extractall(scratch, filter="data")
    (top,) = list(scratch.iterdir())
    os.replace(top, into)
    scratch.rmdir()
    return max(p.stat().st_mtime for p in into.rglob("*") if p.is_file())


def _commit_tree(path: Path, message: str, timestamp: float) -> str:
    Repo.init(str(path)).close()
    files = [
        p
        for p in sorted(path.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(path).parts
    ]
    return commit_paths(path, files, message, _AUTHOR, int(timestamp))


def commit_paths(path: Path, files: list[Path], message: str, author: bytes, when: int) -> str:
    """Stage ``files`` and commit them with fixed author, committer and dates (UTC)."""
    with Repo(str(path)) as repo:
        porcelain.add(repo, paths=[str(file) for file in files])
        sha = porcelain.commit(
            repo,
            message=message.encode(),
            author=author,
            committer=author,
            author_timestamp=when,
            commit_timestamp=when,
            author_timezone=0,
            commit_timezone=0,
        )
    return sha.decode()


def last_commit_dates(path: Path, files: list[str]) -> dict[str, int]:
    """For each file, the time of the last commit that changed it (seconds since epoch)."""
    dates: dict[str, int] = {}
    with Repo(str(path)) as repo:
        for file in files:
            for entry in repo.get_walker(paths=[file.encode()], max_entries=1):
                dates[file] = entry.commit.commit_time
    return dates


def file_commit_times(path: Path, file: str) -> tuple[str, str]:
    """When ``file`` was first committed and last changed, as UTC ISO dates."""
    with Repo(str(path)) as repo:
        times = [entry.commit.commit_time for entry in repo.get_walker(paths=[file.encode()])]
    if not times:
        return "", ""
    first, last = (
        dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")
        for t in (min(times), max(times))
    )
    return first, last
