"""How a stored digest presents its findings (incidents, suppressed, held back, ongoing).

The layout refers to findings by id; :mod:`jobs.storage.repo` writes it in the same
transaction as the digest row and rebuilds the domain values when it reads the digest
back, so a re-delivery after a crash renders exactly what was planned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

import sqlalchemy as sa

from jobs.domain import DataDate, Digest, Finding, HeldBack, Incident, Ongoing
from jobs.storage.tables import DigestLayoutRow

__all__ = ["StoredLayout", "base_subscription", "read_layout", "write_layout"]

_LAYOUTS = DigestLayoutRow.__table__  # type: ignore[attr-defined]


def base_subscription(name: str) -> str:
    """The subscription a digest row belongs to: ``"marketing/alert/shop"`` -> ``"marketing"``."""
    return name.partition("/")[0]


@dataclass(frozen=True, slots=True)
class StoredLayout:
    """A layout as stored: finding ids, to be resolved into findings."""

    immediate: bool
    incidents: tuple[tuple[tuple[int, ...], tuple[int, ...], str], ...]
    held_back: tuple[tuple[int, str], ...]
    #: Per incident (same order): when an earlier alert told it ("" when none).
    alerted: tuple[str, ...] = ()
    sources: tuple[DataDate, ...] = ()
    #: (opening finding id, value on the digest's day, that day) per open incident
    ongoing: tuple[tuple[int, float, date], ...] = ()
    period_days: int = 1
    recovered: tuple[int, ...] = ()

    def finding_ids(self) -> list[int]:
        ids = [i for shown, hidden, _ in self.incidents for i in (*shown, *hidden)]
        return ids + [i for i, _ in self.held_back] + [i for i, _, _ in self.ongoing] + list(self.recovered)

    def resolve(self, digest: Digest, findings: Mapping[int, Finding]) -> Digest:
        """``digest`` with its incidents and held-back findings; ids no longer stored are skipped."""

        def pick(ids: tuple[int, ...]) -> tuple[Finding, ...]:
            return tuple(findings[i] for i in ids if i in findings)

        alerted = self.alerted + ("",) * (len(self.incidents) - len(self.alerted))
        incidents = tuple(
            Incident(findings=pick(shown), suppressed=pick(hidden), note=note, alerted=told)
            for (shown, hidden, note), told in zip(self.incidents, alerted, strict=True)
            if pick(shown)
        )
        held = tuple(HeldBack(findings[i], reason) for i, reason in self.held_back if i in findings)
        ongoing = tuple(Ongoing(findings[i], value, day) for i, value, day in self.ongoing if i in findings)
        return replace(
            digest,
            incidents=incidents,
            held_back=held,
            immediate=self.immediate,
            sources=self.sources,
            ongoing=ongoing,
            period_days=self.period_days,
            recovered=pick(self.recovered),
        )


def _ids(findings: tuple[Finding, ...], what: str) -> list[int]:
    ids = [f.id for f in findings]
    if any(i is None for i in ids):
        raise ValueError(f"digest layout: every {what} finding must be stored (have an id) first")
    return [int(i) for i in ids if i is not None]


def write_layout(conn: sa.Connection, digest_id: int, digest: Digest) -> None:
    """Store ``digest``'s layout under ``digest_id`` (inside the caller's transaction)."""
    payload = {
        "incidents": [
            {
                "ids": _ids(i.findings, "incident"),
                "suppressed": _ids(i.suppressed, "suppressed"),
                "note": i.note,
                **({"alerted": i.alerted} if i.alerted else {}),
            }
            for i in digest.incidents
        ],
        **(
            {"sources": [[s.property, s.source, s.through.isoformat()] for s in digest.sources]}
            if digest.sources
            else {}
        ),
        **({"period_days": digest.period_days} if digest.period_days != 1 else {}),
        **({"recovered": _ids(digest.recovered, "recovered")} if digest.recovered else {}),
        "held_back": [[_ids((h.finding,), "held-back")[0], h.reason] for h in digest.held_back],
        "ongoing": [[_ids((o.finding,), "ongoing")[0], o.observed, o.day.isoformat()] for o in digest.ongoing],
    }
    conn.execute(
        sa.insert(_LAYOUTS).values(
            digest_id=digest_id,
            kind="alert" if digest.immediate else "digest",
            subscription=base_subscription(digest.subscription),
            layout=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        )
    )


def read_layout(conn: sa.Connection, digest_id: int) -> StoredLayout | None:
    """The stored layout of ``digest_id``, or None for a digest stored without one."""
    row = conn.execute(sa.select(_LAYOUTS.c.kind, _LAYOUTS.c.layout).where(_LAYOUTS.c.digest_id == digest_id)).first()
    if row is None:
        return None
    payload = json.loads(str(row.layout) or "{}")
    return StoredLayout(
        immediate=row.kind == "alert",
        incidents=tuple(
            (tuple(int(i) for i in item["ids"]), tuple(int(i) for i in item.get("suppressed", ())), str(item["note"]))
            for item in payload.get("incidents", ())
        ),
        held_back=tuple((int(i), str(reason)) for i, reason in payload.get("held_back", ())),
        alerted=tuple(str(item.get("alerted", "")) for item in payload.get("incidents", ())),
        sources=tuple(DataDate(str(p), str(s), date.fromisoformat(str(d))) for p, s, d in payload.get("sources", ())),
        ongoing=tuple(
            (int(i), float(value), date.fromisoformat(str(day))) for i, value, day in payload.get("ongoing", ())
        ),
        period_days=int(payload.get("period_days", 1)),
        recovered=tuple(int(i) for i in payload.get("recovered", ())),
    )
