"""Small real git repositories that tests build on disk, with dulwich (no git binary)."""

from __future__ import annotations

from pathlib import Path

from dulwich import porcelain
from dulwich.repo import Repo

AUTHOR = b"Test Author <test@example.org>"


def commit_files(path: Path, files: dict[str, str], message: str, when: int) -> str:
    """Write ``files`` into the repository at ``path`` (made if needed) and commit them."""
    path.mkdir(parents=True, exist_ok=True)
    repo = Repo(str(path)) if (path / ".git").is_dir() else Repo.init(str(path))
    with repo:
        for name, text in files.items():
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        porcelain.add(repo, paths=[str(path / name) for name in files])
        sha = porcelain.commit(
            repo,
            message=message.encode(),
            author=AUTHOR,
            committer=AUTHOR,
            author_timestamp=when,
            commit_timestamp=when,
            author_timezone=0,
            commit_timezone=0,
        )
    return sha.decode()
