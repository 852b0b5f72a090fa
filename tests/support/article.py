"""Where the reference article is: ``../shared/article/macvlan-article.txt`` beside the repository."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"


def article_path() -> Path:
    """``../shared/article/macvlan-article.txt`` relative to the repository; from a git worktree,
    relative to its main checkout too."""
    tail = Path("shared", "article", "macvlan-article.txt")
    candidates = [REPO.parent / tail]
    dotgit = REPO / ".git"
    if dotgit.is_file():  # a worktree: "gitdir: MAIN/.git/worktrees/NAME"
        gitdir = Path(dotgit.read_text(encoding="utf-8").split(":", 1)[1].strip())
        candidates.append(gitdir.parent.parent.parent.parent / tail)
    return next((c for c in candidates if c.exists()), candidates[0])


ARTICLE = article_path()
