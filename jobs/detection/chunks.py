"""One day of a big property scored in chunks of series, joined before the pooled noise.

A day's scores come in two steps (:mod:`jobs.detection.stats`): :func:`fit_day` fits
every series on its own history (the expensive part), :func:`finish_day` pools the noise
over each dimension's series and computes tails and p-values, after which the decision
and the false-discovery control run over the whole panel. Only the first step is split:

1. :func:`fit_jobs` names the day's fits that :func:`jobs.detection.engine.detect` will ask
   for (every scored panel's, and its volume's when that is a scorer of its own);
2. :func:`inputs` cuts chunk ``k`` of ``n``: the same contiguous rows of every job (sizes
   differ by at most one, :func:`bounds`), only the whole weeks the fit looks at;
3. :func:`fit` fits one chunk's rows, anywhere (a Celery worker: ``barometer.fit_chunk``);
4. :func:`join` stacks the chunks' fits in row order and checks that they are the fits of
   the very rows and day the joining side has (names digest, rows, model, weeks);
5. :func:`lend` puts them into the scorers (``Scorer.fits``) before ``detect`` decides,
   so pooling, FDR, kinds, look-backs and charts run once over the whole panel, unchanged.

Each series' fit depends on its own row only, so the joined fits, and the findings, are
those of one process fitting the whole panel: bit for bit (``tests/unit/test_chunks.py``).
:func:`dumps` and :func:`loads` carry the arrays between processes (npz, zlib level 1).
"""

from __future__ import annotations

import hashlib
import io
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from jobs.detection.scorer import Scorer
from jobs.detection.stats import MIN_WEEKS, DayFit, Model, fit_day
from jobs.domain import MetricPanel
from jobs.errors import BarometerError

__all__ = [
    "ChunkMismatch",
    "FitJob",
    "bounds",
    "chunk_count",
    "chunked_fits",
    "dumps",
    "fit",
    "fit_jobs",
    "inputs",
    "join",
    "lend",
    "loads",
    "pack_panels",
    "unpack_panels",
]

Arrays = dict[str, npt.NDArray[np.generic]]
_FIELDS = ("expected", "season", "own", "sampling", "informative")


class ChunkMismatch(BarometerError):
    """Chunk fits that are not those of the rows and day being decided (the stored data
    changed between the split and the join, or a chunk is missing): the run fails."""


@dataclass(frozen=True, slots=True)
class FitJob:
    """One scorer's fit of the day: ``key`` names it the same way in every process that
    builds the scorers from the same panels; ``col`` is the day's column."""

    key: str
    scorer: Scorer
    col: int
    weeks: int

    @property
    def rows(self) -> int:
        return len(self.scorer.panel.series)

    def meta(self) -> dict[str, object]:
        s = self.scorer
        return {
            "key": self.key,
            "rows": self.rows,
            "weeks": self.weeks,
            "model": s.model.value,
            "training_days": s.mp.training_days,
            "denominators": s.denominators is not None,
            "weights": s.weights is not None,
            "names": _digest(s.panel.series),
        }


def _digest(names: Sequence[str]) -> str:
    return hashlib.blake2b("\n".join(names).encode(), digest_size=16).hexdigest()


def fit_jobs(scorers: Mapping[tuple[str, str], Scorer], day: date) -> tuple[FitJob, ...]:
    """The fits of ``day`` that detecting it asks for, with enough history to be fitted
    (the engine's own rule for which panels it scores; a volume when it is a scorer apart)."""
    jobs: list[FitJob] = []
    top = {id(s) for s in scorers.values()}
    for (_prop, metric), scorer in sorted(scorers.items()):
        panel, mp = scorer.panel, scorer.mp
        cutoff = panel.last_final - timedelta(days=mp.detection_delay_days or 0)
        if day > cutoff or not panel.dates[0] <= day <= panel.dates[-1] or day in mp.exclude_dates:
            continue
        for key, one in ((metric, scorer), (f"{metric}>volume", scorer.volume)):
            if one is None or (one is not scorer and id(one) in top):
                continue
            col = (day - one.panel.dates[0]).days
            weeks = min(one.mp.training_days, col) // 7 if 0 <= col < len(one.panel.dates) else 0
            if weeks >= MIN_WEEKS:
                jobs.append(FitJob(key, one, col, weeks))
    return tuple(jobs)


def chunk_count(series: int, chunk_series: int) -> int:
    """Chunks of at most ``chunk_series`` series (1: not chunked; ``chunk_series`` 0: never)."""
    if chunk_series <= 0 or series <= chunk_series:
        return 1
    return -(-series // chunk_series)


def bounds(rows: int, chunks: int) -> list[tuple[int, int]]:
    """``chunks`` contiguous row ranges covering ``0..rows``, sizes differing by at most one."""
    edges = [rows * k // chunks for k in range(chunks + 1)]
    return [(edges[k], edges[k + 1]) for k in range(chunks)]


def inputs(jobs: Sequence[FitJob], chunk: int, chunks: int) -> Arrays:
    """Chunk ``chunk`` of ``chunks``: each job's rows of it over the weeks its fit reads."""
    out: Arrays = {}
    metas = []
    for i, job in enumerate(jobs):
        a, b = bounds(job.rows, chunks)[chunk]
        s, start = job.scorer, job.col - job.weeks * 7
        out[f"{i}.values"] = np.ascontiguousarray(s.values[a:b, start : job.col])
        if s.denominators is not None:
            out[f"{i}.denominators"] = np.ascontiguousarray(s.denominators[a:b, start : job.col])
        if s.weights is not None:
            out[f"{i}.weights"] = np.ascontiguousarray(s.weights[a:b, start : job.col])
        metas.append(job.meta() | {"start": a, "stop": b})
    out["meta"] = np.array(json.dumps({"chunk": chunk, "chunks": chunks, "jobs": metas}))
    return out


def fit(chunk: Mapping[str, npt.NDArray[np.generic]]) -> Arrays:
    """The fits of one chunk's rows (what a worker computes from :func:`inputs`)."""
    meta = json.loads(str(chunk["meta"]))
    out: Arrays = {"meta": np.array(json.dumps(meta))}
    for i, job in enumerate(meta["jobs"]):
        values = np.asarray(chunk[f"{i}.values"], dtype=np.float64)
        if values.shape[0] == 0:  # a panel with fewer rows than there are chunks
            _empty(out, i, job)
            continue
        day = fit_day(
            values,
            values.shape[1],  # the day itself, just after the window
            model=Model(job["model"]),
            training_days=int(job["training_days"]),
            denominators=_optional(chunk, f"{i}.denominators"),
            weights=_optional(chunk, f"{i}.weights"),
        )
        for name in _FIELDS:
            out[f"{i}.{name}"] = getattr(day, name)
        if day.ref is not None:
            out[f"{i}.ref"] = day.ref
    return out


def _empty(out: Arrays, i: int, job: Mapping[str, object]) -> None:
    for name in _FIELDS:
        out[f"{i}.{name}"] = np.zeros(0, dtype=np.bool_ if name == "informative" else np.float64)
    model = Model(job["model"])
    continuous = model is Model.CONTINUOUS or (model is Model.RATE and not job["denominators"])
    if continuous and job["weights"]:
        out[f"{i}.ref"] = np.zeros(0)


def _optional(chunk: Mapping[str, npt.NDArray[np.generic]], name: str) -> npt.NDArray[np.float64] | None:
    return np.asarray(chunk[name], dtype=np.float64) if name in chunk else None


def join(jobs: Sequence[FitJob], parts: Sequence[Mapping[str, npt.NDArray[np.generic]]]) -> dict[str, DayFit]:
    """Each job's fit of the day: the chunks' fits (from :func:`fit`, in any order) stacked
    in row order. Raises :class:`ChunkMismatch` unless they cover exactly ``jobs``' rows."""
    ordered: list[Mapping[str, npt.NDArray[np.generic]]] = [{} for _ in parts]
    for part in parts:
        meta = json.loads(str(part["meta"]))
        if meta["chunks"] != len(parts) or ordered[meta["chunk"]]:
            raise ChunkMismatch(f"chunk {meta['chunk'] + 1} of {meta['chunks']}: not one of the {len(parts)} expected")
        ordered[meta["chunk"]] = part
    expected = [job.meta() for job in jobs]
    fits: dict[str, DayFit] = {}
    for i, job in enumerate(jobs):
        pieces = []
        for k, part in enumerate(ordered):
            got = json.loads(str(part["meta"]))["jobs"]
            want = expected[i] | dict(zip(("start", "stop"), bounds(job.rows, len(parts))[k], strict=True))
            if i >= len(got) or got[i] != want:
                raise ChunkMismatch(f"{job.key}: chunk {k + 1} of {len(parts)} was fitted on other rows or settings")
            pieces.append(_day_fit(part, i, job))
        fits[job.key] = DayFit.stack(pieces)
    if len({job.key for job in jobs}) != len(jobs):  # pragma: no cover  (keys are metric names)
        raise ChunkMismatch("two fits of the day share a key")
    return fits


def _day_fit(part: Mapping[str, npt.NDArray[np.generic]], i: int, job: FitJob) -> DayFit:
    def floats(name: str) -> npt.NDArray[np.float64]:
        return np.asarray(part[f"{i}.{name}"], dtype=np.float64)

    return DayFit(
        job.scorer.model,
        job.weeks,
        floats("expected"),
        floats("season"),
        floats("own"),
        floats("sampling"),
        np.asarray(part[f"{i}.informative"], dtype=np.bool_),
        floats("ref") if f"{i}.ref" in part else None,
    )


def lend(jobs: Sequence[FitJob], fits: Mapping[str, DayFit]) -> None:
    """Give each job's scorer its joined fit of the day (what ``Scorer.fit`` would compute)."""
    for job in jobs:
        job.scorer.fits[job.col] = fits[job.key]


def chunked_fits(scorers: Mapping[tuple[str, str], Scorer], day: date, chunks: int) -> dict[str, DayFit]:
    """The whole protocol in one process: split, fit each chunk (through :func:`dumps` and
    :func:`loads`, as between workers), join."""
    jobs = fit_jobs(scorers, day)
    parts = [loads(dumps(fit(loads(dumps(inputs(jobs, k, chunks)))))) for k in range(chunks)]
    return join(jobs, parts[::-1])  # the order chunks finish in does not matter


def pack_panels(panels: Sequence[MetricPanel]) -> Arrays:
    """``panels`` as arrays for :func:`dumps` (series names once per distinct list)."""
    out: Arrays = {}
    names: dict[tuple[str, ...], int] = {}
    metas = []
    for i, panel in enumerate(panels):
        if panel.series not in names:
            names[panel.series] = len(names)
            out[f"names.{names[panel.series]}"] = np.array(panel.series, dtype=np.str_)
        out[f"{i}.values"] = panel.values
        metas.append(
            {
                "property": panel.property,
                "metric": panel.metric,
                "names": names[panel.series],
                "first": panel.dates[0].toordinal(),
                "days": len(panel.dates),
                "last_final": panel.last_final.toordinal(),
            }
        )
    out["meta"] = np.array(json.dumps(metas))
    return out


def unpack_panels(arrays: Mapping[str, npt.NDArray[np.generic]]) -> tuple[MetricPanel, ...]:
    """The panels :func:`pack_panels` packed, equal to them."""
    series: dict[int, tuple[str, ...]] = {}
    panels = []
    for i, meta in enumerate(json.loads(str(arrays["meta"]))):
        key = int(meta["names"])
        if key not in series:
            series[key] = tuple(str(name) for name in arrays[f"names.{key}"].tolist())
        first = int(meta["first"])
        panels.append(
            MetricPanel(
                property=meta["property"],
                metric=meta["metric"],
                series=series[key],
                dates=tuple(date.fromordinal(first + d) for d in range(int(meta["days"]))),
                values=np.asarray(arrays[f"{i}.values"], dtype=np.float64),
                last_final=date.fromordinal(int(meta["last_final"])),
            )
        )
    return tuple(panels)


def dumps(arrays: Mapping[str, npt.NDArray[np.generic]]) -> bytes:
    """Arrays as npz bytes (no pickles), compressed with zlib at level 1: counts shrink
    about six times at 0.4 s per 100,000 series x 8 weeks, where npz's own deflate takes 2 s."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return zlib.compress(buffer.getbuffer(), 1)


def loads(blob: bytes) -> Arrays:
    """The arrays :func:`dumps` wrote."""
    with np.load(io.BytesIO(zlib.decompress(blob)), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}
