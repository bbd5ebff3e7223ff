"""Series names -> dimension groups and parents, computed vectorised over all names."""

from __future__ import annotations

import numpy as np

from jobs.detection.panels import dimension_groups, name_parts, parents

NAMES = (
    "total",
    "channel:Email",
    "gsc/shop/page:/x:y",
    "device:mobile",
    "gsc/shop",
    "ga4/a/b/total",
    "channel:Paid",
    "ga4/a/b/landingPage:/p",
    "gsc/shop/page:/z",
    "页面:/路径",
    "gsc/other/query:q",
)


def _dims(names: tuple[str, ...]) -> tuple[list[tuple[str, list[int]]], list[int]]:
    dims, groups = dimension_groups(name_parts(names))
    assert groups.dtype == np.int64
    return list(dims.items()), groups.tolist()


def test_dimensions_in_first_appearance_order_with_labels() -> None:
    dims, groups = _dims(NAMES)
    assert dims == [
        ("channel", [1, 6]),
        ("gsc/shop/page", [2, 8]),
        ("device", [3]),
        ("ga4/a/b/landingPage", [7]),
        ("页面", [9]),
        ("gsc/other/query", [10]),
    ]
    assert groups == [0, 1, 2, 3, 0, 0, 1, 4, 2, 5, 6]


def test_parents_site_total_else_site_series_else_none() -> None:
    out = parents(NAMES)
    assert out.dtype == np.int64
    # channel/device/页面 -> "total"; gsc/shop -> the top-level "gsc/shop" (no gsc/shop/total);
    # ga4/a/b -> "ga4/a/b/total"; gsc/other has neither.
    assert out.tolist() == [-1, 0, 4, 0, -1, -1, 0, 5, 4, 0, -1]


def test_site_total_wins_over_site_series_and_last_duplicate_wins() -> None:
    names = ("gsc/shop", "gsc/shop/page:/x", "gsc/shop/total", "gsc/shop/total", "c:x")
    assert parents(names).tolist() == [-1, 3, -1, -1, -1]


def test_no_children_and_empty_panel() -> None:
    assert parents(("total", "gsc/shop/total")).tolist() == [-1, -1]
    assert _dims(("total", "gsc/shop/total")) == ([], [0, 0])
    assert parents(()).tolist() == []
    assert _dims(()) == ([], [])


def test_names_with_nul_are_not_confused_with_their_stripped_forms() -> None:
    names = ("total\x00", "a\x00:x", "a:y", "b\x01:z", "s\x00/total", "s\x00/d:1", "s/d:2")
    assert _dims(names) == (
        [("a\x00", [1]), ("a", [2]), ("b\x01", [3]), ("s\x00/d", [5]), ("s/d", [6])],
        [0, 1, 2, 3, 0, 4, 5],
    )
    assert parents(names).tolist() == [-1, -1, -1, -1, -1, 4, -1]
