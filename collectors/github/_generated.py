"""Generated GitHub REST responses for a large pull request population (tests, benchmarks).

:func:`serve_generated_pull_requests` runs the fixture server in a child process, answering
every call of ``github_pull_requests`` for ``repos`` repositories of ``prs_per_repo`` merged
pull requests each with bodies built on the fly (documented shapes, trimmed), so neither the
responses nor the server's request log live in the measuring process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from collectors.fixture_server import serve_fixtures

__all__ = ["GeneratedPulls", "GeneratedServer", "serve_generated_pull_requests"]

_PAGE = 100


class GeneratedPulls:
    """The response for one request of the generated organisation (``None``: unknown)."""

    def __init__(self, org: str, repos: int, prs_per_repo: int) -> None:
        self.org, self.repos, self.prs = org, repos, prs_per_repo

    def __call__(self, method: str, target: str, base_url: str) -> Mapping[str, Any] | None:
        """A response spec for ``serve_fixtures(generate=...)``."""
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query))
        segments = parts.path.strip("/").split("/")
        page = int(query.get("page", "1"))
        if segments == ["user"]:
            return {"body": {"login": "bench-bot", "id": 1, "type": "User"}}
        if segments == ["orgs", self.org, "repos"]:
            names = range((page - 1) * _PAGE, min(page * _PAGE, self.repos))
            body = [_repo(self.org, f"repo-{i:04d}") for i in names]
            return self._paged(body, base_url, parts.path, query, page * _PAGE < self.repos)
        if len(segments) < 4 or segments[0] != "repos":
            return None
        repo, rest = segments[2], segments[3:]
        if rest[-1] == "protection":
            return {"body": _protection()}
        if rest == ["events"]:  # one page: a push per merge (the newest 100), so all 90 days
            numbers = range(self.prs, max(self.prs - _PAGE, 0), -1)
            return {"body": [_push(self.org, repo, n) for n in numbers]}
        if rest == ["pulls"]:
            numbers = range(self.prs - (page - 1) * _PAGE, max(self.prs - page * _PAGE, 0), -1)
            body = [_pull(self.org, repo, n) for n in numbers]
            return self._paged(body, base_url, parts.path, query, page * _PAGE < self.prs)
        if rest[0] == "pulls" and len(rest) == 2:
            return {"body": _pull(self.org, repo, int(rest[1]), detail=True)}
        if rest[0] == "pulls" and rest[-1] == "reviews":
            return {"body": [_review(1, "carol", "COMMENTED"), _review(2, "bob", "APPROVED")]}
        if rest[0] == "commits" and rest[-1] == "check-runs":
            runs = [_run("ci/test", "success"), _run("ci/lint", "success"), _run("e2e", "failure")]
            return {"body": {"total_count": len(runs), "check_runs": runs}}
        return None

    @staticmethod
    def _paged(
        body: list[Any], base_url: str, path: str, query: dict[str, str], more: bool
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {"body": body}
        if more:
            following = {**query, "page": str(int(query.get("page", "1")) + 1)}
            spec["headers"] = {"Link": f'<{base_url}{path}?{urlencode(following)}>; rel="next"'}
        return spec


def _user(login: str) -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10**6, "type": "User", "site_admin": False}


def _repo(org: str, name: str) -> dict[str, Any]:
    return {"name": name, "full_name": f"{org}/{name}", "private": True, "archived": False,
            "default_branch": "main", "visibility": "private",
            "owner": {"login": org, "type": "Organization"}}  # fmt: skip


def _pull(org: str, repo: str, number: int, *, detail: bool = False) -> dict[str, Any]:
    day = 1 + number % 28
    pull = {
        "url": f"https://api.github.com/repos/{org}/{repo}/pulls/{number}",
        "number": number,
        "state": "closed",
        "title": f"CHG-{number} change {number} of {repo}",
        "user": _user("alice"),
        "body": "Describes the change. " * 60,
        "html_url": f"https://github.com/{org}/{repo}/pull/{number}",
        "created_at": f"2026-11-{day:02d}T08:00:00Z",
        "updated_at": f"2026-11-28T{number % 24:02d}:00:00Z",
        "closed_at": f"2026-11-{day:02d}T12:00:00Z",
        "merged_at": f"2026-11-{day:02d}T12:00:00Z",
        "merge_commit_sha": f"{number:040x}",
        "labels": [{"name": "change", "color": "ededed"}],
        "head": {
            "ref": f"feature/CHG-{number}",
            "sha": f"{number + 10**6:040x}",
            "repo": _repo(org, repo),
        },  # fmt: skip
        "base": {"ref": "main", "sha": "0" * 40, "repo": _repo(org, repo)},
        "author_association": "MEMBER",
    }
    if detail:
        pull.update({"merged": True, "merged_by": _user("bob"), "commits": 3, "additions": 40,
                     "deletions": 7, "changed_files": 4})  # fmt: skip
    return pull


def _protection() -> dict[str, Any]:
    return {
        "required_status_checks": {"strict": True, "contexts": ["ci/test", "ci/lint"],
                                   "checks": [{"context": "ci/test", "app_id": 15368}]},
        "required_pull_request_reviews": {"required_approving_review_count": 1,
                                          "dismiss_stale_reviews": True},
        "enforce_admins": {"enabled": True},
        "allow_force_pushes": {"enabled": False},
    }  # fmt: skip


def _push(org: str, repo: str, number: int) -> dict[str, Any]:
    day = 1 + number % 28
    return {"id": str(number), "type": "PushEvent", "actor": _user("bob"),
            "repo": {"id": 1, "name": f"{org}/{repo}"}, "public": False,
            "created_at": f"2026-11-{day:02d}T12:00:01Z",
            "payload": {"ref": "refs/heads/main", "head": f"{number:040x}", "size": 1,
                        "before": "0" * 40}}  # fmt: skip


def _review(rid: int, login: str, state: str) -> dict[str, Any]:
    return {"id": rid, "user": _user(login), "state": state, "body": "Looks good. " * 20,
            "submitted_at": "2026-11-01T10:00:00Z", "commit_id": "c" * 40}  # fmt: skip


def _run(name: str, conclusion: str) -> dict[str, Any]:
    return {"name": name, "status": "completed", "conclusion": conclusion,
            "output": {"title": name, "summary": "Ran the suite. " * 20},
            "app": {"slug": "github-actions"}}  # fmt: skip


def _serve(org: str, repos: int, prs: int, conn: Any) -> None:
    with serve_fixtures(routes={}, generate=GeneratedPulls(org, repos, prs)) as server:
        conn.send(server.base_url)
        conn.recv()  # until the parent says stop
        conn.send(len(server.requests))


class GeneratedServer:
    """A running generated server: ``base_url``; ``requests`` (count) once it has stopped."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.requests: int | None = None


@contextmanager
def serve_generated_pull_requests(
    repos: int, prs_per_repo: int, org: str = "bench-org"
) -> Iterator[GeneratedServer]:
    """Serve the generated organisation from a child process (see the module docstring)."""
    parent, child = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_serve, args=(org, repos, prs_per_repo, child), daemon=True
    )
    process.start()
    server = GeneratedServer(parent.recv())
    try:
        yield server
    finally:
        parent.send("stop")
        if parent.poll(10):
            server.requests = parent.recv()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
