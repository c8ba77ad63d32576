"""The workbench: ``procmine serve PROJECT_DIR``, a web app over a project's log.

>>> from procmine.web import init_project, create_app       # doctest: +SKIP
>>> init_project("proj", "admin", "a long password")         # doctest: +SKIP
>>> app = create_app("proj")                                  # an ASGI app (Starlette)  # doctest: +SKIP
"""

from __future__ import annotations

import secrets
from pathlib import Path

from .app import WebConfig, create_app
from .project import Project
from .scope import ROLES, Actor, may_view, scope_cases

__all__ = ["Actor", "Project", "ROLES", "WebConfig", "create_app", "demo_project", "init_project", "may_view",
           "scope_cases", "serve"]


def init_project(root: str | Path, admin: str, password: str) -> Project:
    """Create a project folder and its first administrator."""
    return Project.init(root, admin, password)


def demo_project(root: str | Path, logs_dir: str | Path | None = None) -> tuple[Project, str | None]:
    """A project on the shipped sample: created with an administrator ``admin`` and a random
    password (returned; None when the project existed already), the sample imported."""
    from ..demo import sample_dir

    root = Path(root)
    password = None
    if not (root / "project.json").exists():
        password = secrets.token_urlsafe(12)
        Project.init(root, "admin", password)
    project = Project.open(root)
    if not project.has_log():
        logs = Path(logs_dir) if logs_dir else sample_dir()
        project.import_files(sorted(p for p in logs.iterdir() if p.suffix.lower() in (".xlsx", ".xls", ".csv")))
    project.analysis(Actor("admin", "admin"))  # the case table and findings, computed once before serving
    return project, password


def serve(root: str | Path, host: str = "127.0.0.1", port: int = 8000, config: WebConfig | None = None) -> None:
    """Run the workbench (uvicorn, one process) until interrupted."""
    import uvicorn

    app = create_app(root, config)
    # the client address is the direct peer (no X-Forwarded-For): what the trusted-proxy check needs
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False, server_header=False)


def read_password_file(path: str | Path) -> str:
    """The first line of a password file (the file, not the command line, so it is never echoed or in ps)."""
    from ..errors import InputError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the password file {path}: {exc.strerror}") from None
    lines = text.splitlines()
    return lines[0] if lines else ""
