"""The results model's comparisons of models: exact McNemar on shared examples, each model's
best operating point under constraints, and what the dev set can resolve between two."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dashboard.errors import DashboardError
from dashboard.metrics.compare import (
    McNemar,
    mcnemar_from_counts,
    split_constraints,
    unmet_constraints,
)
from dashboard.metrics.curve import OperatingPoint, point_from_counts, unmet
from dashboard.metrics.intervals import resolution
from dashboard.metrics.power import Resolution, resolution_of

if TYPE_CHECKING:
    from dashboard.results.model import Results

__all__ = ["ComparingMixin"]


class ComparingMixin:
    """Model comparisons of :class:`Results`."""

    def mcnemar(self: Results, model_a: str, model_b: str, split: str = "dev", *,
                thresholds: tuple[float, float] | None = None) -> McNemar:
        """Exact McNemar test of two models on the examples of a split they share.

        By default both are judged at the shared threshold; ``thresholds`` gives each model
        its own (one-vs-rest on the positive class when multiclass). The engine counts the
        discordant pairs (rows pair by key).
        """
        for m in (model_a, model_b):
            self._check_split(split, m)
        ta, tb = thresholds if thresholds is not None else (self.threshold_of(model_a),
                                                              self.threshold_of(model_b))
        key = ("mcnemar", model_a, model_b, split, float(ta), float(tb),
               str(self.positive_class) if thresholds is not None else None)
        if key not in self._cache:
            binary = self.schema.kind == "binary_score"
            # binary at the thresholds; per-class probabilities one-vs-rest on the positive
            # class when thresholds are given, else the argmax; predictions as they are
            scored = binary or (self.has_scores and thresholds is not None
                                and bool(np.isfinite(ta)) and bool(np.isfinite(tb)))
            pos = (self._code(self.schema.pos_label) if binary else
                   self._code(self.positive_class) if scored else None)
            only_a, only_b, shared = self._source.paired_counts(
                self._ikey(model_a, split), self._ikey(model_b, split),
                *(float(t) if scored else None for t in (ta, tb)), pos_code=pos)
            if shared == 0:
                raise DashboardError(f"models {model_a!r} and {model_b!r} share no {split} "
                                     "examples")
            self._cache_put(key, mcnemar_from_counts(only_a, only_b), "mcnemar")
        return self._cache[key]

    def compare_models(self, split: str = "dev", optimize: str = "f1",
                       constraints: Mapping[str, tuple[str, float]] | None = None, *,
                       metadata: Mapping[str, Mapping[str, float]] | None = None,
                       beta: float = 1.0) -> pd.DataFrame:
        """Each model's best operating point under one objective and the same constraints.

        Constraints on per-model ``metadata`` (e.g. running time in ms) admit or exclude a
        whole model; the others pick each model's threshold. ``error``, ``fp`` and ``fn`` are
        minimised. With hard predictions only, each model's one operating point is ranked by the
        objective asked for (F1 is computable from predictions). The
        table's ``attrs``: ``chosen`` (best admissible model), ``ranked`` (admissible models,
        best first), ``mcnemar`` ``(a, b, McNemar)`` between the top two, each at its own
        threshold, and ``resolution``, the smallest error difference this split can see at the
        chosen model's error.
        """
        metadata = self.metadata if metadata is None else metadata
        curve_c, meta_c = split_constraints(dict(constraints or {}), metadata)
        minimize = optimize in ("error", "fp", "fn")
        rows = []
        for m in self.models:
            row: dict[str, Any] = {"model": m, **metadata.get(m, {})}
            if not self.split_sizes(m).get(split):
                # a model without rows in the split is listed, not compared (nor an error)
                rows.append({**row, "feasible": False, "unmet": f"no {split} rows",
                             "admissible": False})
                continue
            if self.has_scores:
                best = self.best_threshold(split, optimize, curve_c, beta=beta, model=m)
                if best is not None:
                    row.update({"threshold": best.threshold, "value": best.value,
                                "precision": best.precision, "recall": best.recall,
                                "f1": best.f1, "accuracy": best.accuracy,
                                "error": 1 - best.accuracy})
                row["feasible"] = best is not None
            else:
                # hard predictions: one operating point per model, judged by the same rules
                err = float(self.error_rates(m).loc[split, "error"])
                point = self._prediction_point(split, m, beta)
                values = {**{k: point.get(k) for k in ("precision", "recall", "f1", "fbeta",
                                                       "specificity", "queue_rate", "tp",
                                                       "fp", "fn", "tn")},
                          "accuracy": 1 - err, "error": err}
                if optimize not in values:
                    raise DashboardError(f"cannot optimise {optimize!r}; choose one of "
                                         f"{', '.join(values)}")
                row.update({"threshold": float("nan"), "precision": point.precision,
                            "recall": point.recall, "f1": point.f1, "accuracy": 1 - err,
                            "error": err, "value": values[optimize],  # what was asked for
                            "feasible": not unmet(values, curve_c)})
            row["unmet"] = ", ".join(unmet_constraints(metadata.get(m, {}), meta_c))
            row["admissible"] = bool(row["feasible"]) and not row["unmet"]
            rows.append(row)
        table = pd.DataFrame(rows).set_index("model")

        def rank(m: str) -> tuple[bool, float]:  # an undefined value ranks last
            value = float(table.loc[m, "value"])
            return (math.isnan(value), value * (1 if minimize else -1))
        ranked = sorted((m for m in table.index if table.loc[m, "admissible"]), key=rank)
        table.attrs.update({"chosen": ranked[0] if ranked else None, "ranked": ranked,
                            "optimize": optimize, "minimize": minimize})
        if len(ranked) >= 2:
            a, b = ranked[:2]
            thresholds = (float(table.loc[a, "threshold"]), float(table.loc[b, "threshold"]))
            table.attrs["mcnemar"] = (a, b, self.mcnemar(a, b, split, thresholds=thresholds))
        if ranked:
            top = ranked[0]
            table.attrs["resolution"] = resolution(float(table.loc[top, "error"]),
                                                   self.split_sizes(top).get(split, 0))
        return table

    def _prediction_point(self: Results, split: str, model: str, beta: float = 1.0
                          ) -> OperatingPoint:
        """Confusion counts of hard predictions for the positive class (one-vs-rest)."""
        code = self._code(self.positive_class)
        cm = self._source.confusion(self._ikey(model, split), bool(self.weighted))
        tp, fp = float(cm[code, code]), float(cm[:, code].sum() - cm[code, code])
        positives = float(cm[code].sum())
        return point_from_counts(tp, fp, positives, float(cm.sum()) - positives, beta=beta)

    # -- dev-set resolution: what the split can tell apart between two models ------------------
    def dev_resolution(self, model_a: str | None = None, model_b: str | None = None,
                       split: str = "dev", *, difference: float | None = None,
                       thresholds: tuple[float, float] | None = None, power: float = 0.8,
                       alpha: float = 0.05) -> Resolution:
        """The smallest paired error difference the split detects between two models (exact
        McNemar, ``power`` at level ``alpha``) and, for a ``difference`` the user types, about
        how many examples would detect it; see :mod:`dashboard.metrics.power`.

        The share of examples the models disagree on comes from :meth:`mcnemar` (at the shared
        threshold, or at ``thresholds``); ``n`` is the split's size, both models scored on the
        same examples. By default the current model against the next one.
        """
        model_a = self._check_model(model_a)
        if model_b is None:
            others = [m for m in self.models if m != model_a]
            if not others:
                raise DashboardError("dev-set resolution compares two models; these results "
                                     "hold one")
            model_b = others[0]
        model_b = self._check_model(model_b)
        # cached: beside the comparison the thresholds are the models' best ones, which a
        # threshold move leaves alone (the exact power search costs ~0.1 s)
        key = ("resolution", model_a, model_b, split,
               thresholds if thresholds is not None else (self.threshold_of(model_a),
                                                          self.threshold_of(model_b)),
               str(self.positive_class), difference, power, alpha)
        if key not in self._cache:
            test = self.mcnemar(model_a, model_b, split, thresholds=thresholds)
            n = min(self.split_sizes(m).get(split, 0) for m in (model_a, model_b))
            self._cache_put(key, resolution_of(model_a, model_b, n, test.discordant,
                                               difference, power, alpha), "resolution", limit=16)
        return self._cache[key]

