"""What the incremental fetch asks for, run after run."""

from __future__ import annotations

from datetime import date

from jobs.detection.params import DetectionParams, MetricParams
from jobs.pipeline import FetchPlan, history_days, plan_fetch

TODAY = date(2026, 5, 20)
FINAL = date(2026, 5, 18)


def test_first_run_fetches_the_training_history_up_to_yesterday() -> None:
    plan = plan_fetch(fetched_through=None, last_final=FINAL, data_date=FINAL, today=TODAY, history=70)
    assert plan == FetchPlan(date(2026, 3, 9), date(2026, 5, 19))
    assert plan.days == 72


def test_next_run_fetches_only_new_and_still_settling_days() -> None:
    # Last run ended with 05-17 final; 05-18 and 05-19 were settling then.
    plan = plan_fetch(fetched_through=date(2026, 5, 17), last_final=FINAL, data_date=FINAL, today=TODAY, history=70)
    assert plan == FetchPlan(date(2026, 5, 18), date(2026, 5, 19))


def test_same_day_rerun_refetches_the_settling_days() -> None:
    plan = plan_fetch(fetched_through=FINAL, last_final=FINAL, data_date=FINAL, today=TODAY, history=70)
    assert plan == FetchPlan(FINAL, date(2026, 5, 19))


def test_replaying_an_old_date_pulls_its_own_history() -> None:
    old = date(2025, 12, 1)
    plan = plan_fetch(fetched_through=FINAL, last_final=FINAL, data_date=old, today=TODAY, history=70)
    assert plan.start == date(2025, 9, 22)


def test_history_covers_the_longest_training_window_and_the_chart() -> None:
    params = DetectionParams(metrics={"clicks": MetricParams(training_days=120)})
    assert history_days(params) == 134
    assert history_days(DetectionParams()) == 70
