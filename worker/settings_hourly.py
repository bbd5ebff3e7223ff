"""``[hourly]``: the hourly watch's schedule, thresholds and quota shares (see README)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jobs.hourly.params import HourlyParams

__all__ = ["HourlySettings"]


class HourlySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Minute past each hour at which ``hourly:{property}`` runs.
    minute: int = Field(default=10, ge=0, le=59)
    weeks: int = Field(default=8, ge=1, le=26)
    min_weeks: int = Field(default=3, ge=1, le=26)
    break_share: float = Field(default=0.1, gt=0, lt=1)
    collapse_pct: float = Field(default=0.5, gt=0, lt=1)
    collapse_hours: int = Field(default=2, ge=1, le=24)
    #: Collapses are also judged over longer trailing windows, up to this many hours.
    collapse_longest: int = Field(default=6, ge=1, le=24)
    #: A collapse's window must be this improbable under the noise model.
    collapse_p_value: float = Field(default=3e-8, gt=0, lt=0.5)
    spike_ratio: float = Field(default=3.0, gt=1)
    min_expected: float = Field(default=10.0, ge=0)
    max_p_value: float = Field(default=1e-6, gt=0, lt=0.5)
    #: Tracking breaks are only judged on a property's totals, a small family: a looser bar.
    break_p_value: float = Field(default=1e-5, gt=0, lt=0.5)
    #: Ask GA4's Realtime API for the last 30 minutes on every run ("tracking stopped now").
    realtime: bool = True
    #: Share of each GA4 token budget (per day, per hour, per project and hour) the hourly
    #: watch leaves to the daily run: it sends nothing once a budget is below it.
    ga4_reserve_share: float = Field(default=0.5, ge=0, lt=1)
    #: GA4 quota tier of the properties ("360" has ten times the standard budgets).
    ga4_quota_tier: Literal["standard", "360"] = "standard"
    #: GA4 standard intraday data arrive 2-8 hours late: hours older than this are taken
    #: as counted even when empty (a whole-tag break), newer ones only once data show up.
    ga4_max_lag_hours: int = Field(default=8, ge=0, le=48)
    #: Share of Search Console's queries per minute (``[google] gsc_queries_per_minute``)
    #: the hourly watch leaves to the daily run: it never sends more than the rest.
    gsc_reserve_share: float = Field(default=0.5, ge=0, lt=1)
    #: Search Console's hourly rows arrive a few hours late: hours older than this are taken
    #: as counted even when empty, newer ones only once data show up.
    gsc_max_lag_hours: int = Field(default=8, ge=0, le=48)

    @model_validator(mode="after")
    def _consistent(self) -> HourlySettings:
        if self.min_weeks > self.weeks:
            raise ValueError(f"min_weeks: must not exceed weeks ({self.weeks}), got {self.min_weeks}")
        if self.collapse_longest < self.collapse_hours:
            raise ValueError(f"collapse_longest: must be at least collapse_hours ({self.collapse_hours})")
        if self.break_share >= self.collapse_pct:
            raise ValueError("break_share: must be below collapse_pct")
        return self

    def params(self) -> HourlyParams:
        return HourlyParams(
            weeks=self.weeks,
            min_weeks=self.min_weeks,
            break_share=self.break_share,
            collapse_pct=self.collapse_pct,
            collapse_hours=self.collapse_hours,
            collapse_longest=self.collapse_longest,
            collapse_p_value=self.collapse_p_value,
            spike_ratio=self.spike_ratio,
            min_expected=self.min_expected,
            max_p_value=self.max_p_value,
        )
