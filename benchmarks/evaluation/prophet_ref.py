"""Prophet as a reference detector: refit weekly on all history so far, flag a day outside
the 99% predictive interval of the fit made before it (walk-forward, no look-ahead).

Prophet is a dev extra (``pip install -e .[dev]``); it is imported here only.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np

__all__ = ["prophet_flags"]

#: Days between refits.
REFIT = 7


def prophet_flags(dates: tuple[date, ...], values: np.ndarray, *, start: date) -> list[date]:
    """Days in ``start..`` that Prophet's 99% interval (refit every :data:`REFIT` days) excludes."""
    import pandas as pd
    from prophet import Prophet

    for name in ("prophet", "cmdstanpy"):  # cmdstanpy re-arms its level: silence it whole
        logging.getLogger(name).disabled = True
    out: list[date] = []
    first = dates.index(start)
    frame = pd.DataFrame({"ds": pd.to_datetime(list(dates)), "y": values})
    for at in range(first, len(dates), REFIT):
        train = frame.iloc[:at].dropna()
        model = Prophet(interval_width=0.99, uncertainty_samples=200)
        model.fit(train)
        ahead = frame.iloc[at : at + REFIT]
        forecast = model.predict(ahead[["ds"]])
        y = ahead["y"].to_numpy()
        lo, hi = forecast["yhat_lower"].to_numpy(), forecast["yhat_upper"].to_numpy()
        with np.errstate(invalid="ignore"):
            outside = np.isfinite(y) & ((y < lo) | (y > hi))
        out += [dates[at + n] for n in np.flatnonzero(outside).tolist()]
    return out
