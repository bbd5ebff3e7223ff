"""A channel that writes digests to a directory: the demo's and an unconfigured install's outbox.

For each send it writes ``{date}-{subscription}-{recipient}.eml`` (the exact MIME bytes of
:func:`~alerts.render.email.render_email`, openable in any mail client) and
``{date}-{subscription}.slack.json`` (the Block Kit payload, pretty-printed) and
``{date}-{subscription}.all.html`` when some changes are not shown in full (every change in
full: where the email's "and N more" points when no ``web.public_url`` serves that list).
Writes are
atomic (temporary file, then rename), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

from alerts.errors import DeliveryError
from alerts.render.email import render_email, render_full_list
from alerts.render.links import Links
from alerts.render.slack import render_slack
from alerts.render.view import build_view
from jobs.domain import Digest

__all__ = ["DirectoryChannel", "slug"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def slug(text: str) -> str:
    """``text`` as a safe file-name part: ``"Team <a@b.c>"`` -> ``"Team-a@b.c"``."""
    return _UNSAFE.sub("-", text).strip("-.")[:80] or "unnamed"


class DirectoryChannel:
    """Writes each digest under ``directory`` (created if missing)."""

    name = "file"

    def __init__(
        self, *, directory: Path, sender: str = "barometer@localhost", base_url: str = "", links: Links | None = None
    ) -> None:
        self.directory = Path(directory)
        self.sender = sender
        self.base_url = base_url
        self.links = links or Links(public_url=base_url.rstrip("/"))

    def __repr__(self) -> str:
        return f"DirectoryChannel(directory={str(self.directory)!r})"

    def paths(self, digest: Digest, *, recipient: str) -> tuple[Path, Path]:
        """Where :meth:`send` writes the email and the Slack payload for ``recipient``."""
        stem = f"{digest.data_date.isoformat()}-{slug(digest.subscription)}"
        return self.directory / f"{stem}-{slug(recipient)}.eml", self.directory / f"{stem}.slack.json"

    def full_list_path(self, digest: Digest) -> Path:
        """Where :meth:`send` writes every change of ``digest`` in full, as an HTML page."""
        return self.directory / f"{digest.data_date.isoformat()}-{slug(digest.subscription)}.all.html"

    def send(self, digest: Digest, *, recipient: str) -> None:
        """Write the digest's email for ``recipient`` and its Slack payload; raises DeliveryError."""
        eml, slack = self.paths(digest, recipient=recipient)
        full = self.full_list_path(digest)
        links = self.links
        view = build_view(digest, links=links)
        needed = view.count > len(view.full)  # some changes are not shown in full
        if needed and not view.all_url:  # and no page serves the list: point at the copy here
            links = replace(links, full_list=full.absolute().as_uri())
        message = render_email(digest, sender=self.sender, recipient=recipient, links=links)
        payload = json.dumps(render_slack(digest, links=links), indent=2, ensure_ascii=False) + "\n"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if needed:
                _write_atomic(full, render_full_list(digest, links=self.links).encode("utf-8"))
            _write_atomic(eml, message.as_bytes())
            _write_atomic(slack, payload.encode("utf-8"))
        except OSError as exc:
            transient = not isinstance(exc, PermissionError | NotADirectoryError | IsADirectoryError)
            raise DeliveryError(f"outbox {self.directory}: {exc.strerror or exc}", transient=transient) from None


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
