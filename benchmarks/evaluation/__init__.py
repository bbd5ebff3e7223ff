"""A labelled evaluation of detection: a generator of realistic daily GA4/GSC-like data with
known injected anomalies (:mod:`benchmarks.evaluation.generator`), two reference detectors
(:mod:`benchmarks.evaluation.baselines`) and event-level scoring (:mod:`benchmarks.evaluation.scoring`).

``make eval`` (``python -m benchmarks.evaluate``) runs barometer through the same function
``barometer detect`` uses and prints the scores next to the reference detectors.
"""

from benchmarks.evaluation.generator import CONFIGS, GeneratorConfig, Label, generate, read_labels, write_labels
from benchmarks.evaluation.scoring import Flag, Score, score

__all__ = [
    "CONFIGS",
    "Flag",
    "GeneratorConfig",
    "Label",
    "Score",
    "generate",
    "read_labels",
    "score",
    "write_labels",
]
