"""Only the composition root knows how collaborators are built.

``worker.bootstrap`` picks the concrete adapters; ``worker.runtime`` holds what an entry
point built; the entry points (the CLI, the Celery tasks and app, the console, and the
demo, which makes its own database) build a runtime and hand it to the use cases. Any
other module under ``worker/`` that reaches for ``worker.bootstrap`` is a use case looking
its collaborators up again: this test names it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "worker"

#: The composition root and the entry points (paths relative to worker/).
ALLOWED = {
    "bootstrap.py",
    "runtime.py",
    "celery_app.py",
    "tasks.py",
    "hourly_tasks.py",
    "demo.py",
}
ALLOWED_DIRS = ("cli/", "web/")


def _uses_bootstrap(path: Path) -> list[str]:
    """Each line of ``path`` that imports worker.bootstrap or reads an attribute of it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    hits = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "worker"
            and any(a.name == "bootstrap" for a in node.names)
        ):
            hits.append(f"{node.lineno}: from worker import bootstrap")
        elif isinstance(node, ast.ImportFrom) and node.module == "worker.bootstrap":
            hits.append(f"{node.lineno}: from worker.bootstrap import ...")
        elif isinstance(node, ast.Import) and any(a.name == "worker.bootstrap" for a in node.names):
            hits.append(f"{node.lineno}: import worker.bootstrap")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "bootstrap":
            hits.append(f"{node.lineno}: bootstrap.{node.attr}")
    return sorted(hits, key=lambda hit: int(hit.split(":")[0]))


def _outside_the_root() -> dict[str, list[str]]:
    found = {}
    for path in sorted(WORKER.rglob("*.py")):
        rel = path.relative_to(WORKER).as_posix()
        if rel in ALLOWED or rel.startswith(ALLOWED_DIRS) or rel.startswith("migrations/"):
            continue
        hits = _uses_bootstrap(path)
        if hits:
            found[rel] = hits
    return found


def test_no_use_case_looks_its_collaborators_up_in_bootstrap() -> None:
    assert _outside_the_root() == {}


def test_the_check_sees_a_lookup(tmp_path: Path) -> None:
    sample = tmp_path / "use_case.py"
    sample.write_text(
        "from worker import bootstrap\n\ndef run(settings):\n    return bootstrap.engine(settings)\n", encoding="utf-8"
    )
    assert _uses_bootstrap(sample) == ["1: from worker import bootstrap", "4: bootstrap.engine"]
