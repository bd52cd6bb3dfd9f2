"""Pure metric functions: every number the dashboard shows is computed here."""

from dashboard.metrics.compare import McNemar, choose, mcnemar_exact, satisfies
from dashboard.metrics.curve import (
    METRICS,
    BestThreshold,
    OperatingPoint,
    ThresholdCurve,
    best_threshold,
    score_counts,
)
from dashboard.metrics.gaps import GapReport, HumanLevel, decompose_gaps
from dashboard.metrics.intervals import effective_n, gap_interval, resolution, wilson_interval
from dashboard.metrics.multiclass import ClassF1, multiclass_f1
from dashboard.metrics.tally import (
    MISLABELLED,
    LabelNoise,
    ceiling_error,
    label_noise,
    label_noise_blocks_choice,
    tally_table,
)

__all__ = [
    "METRICS", "MISLABELLED", "BestThreshold", "ClassF1", "GapReport", "HumanLevel",
    "LabelNoise", "McNemar", "OperatingPoint", "ThresholdCurve", "best_threshold",
    "ceiling_error", "choose", "decompose_gaps", "effective_n", "gap_interval", "label_noise",
    "label_noise_blocks_choice", "mcnemar_exact", "multiclass_f1", "resolution", "satisfies",
    "score_counts", "tally_table", "wilson_interval",
]
