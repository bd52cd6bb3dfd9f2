"""The results model's review state: tags and comments, the error-analysis sample, the tally
and the label-noise analysis it feeds (the category tally grid's numbers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.cache import derived_name, load_derived, save_derived
from dashboard.errors import DashboardError
from dashboard.io import Schema
from dashboard.metrics.sampling import eyeball_mask, rank_keys, sample_by_rank, sample_review_rows
from dashboard.metrics.tally import (
    MISLABELLED,
    LabelNoise,
    fix_first,
    label_noise,
    label_noise_blocks_choice,
    tally_table,
)

if TYPE_CHECKING:
    from dashboard.results.model import Results

__all__ = ["ReviewMixin"]


class ReviewMixin:
    """Review tags, comments, the error-analysis sample and the tally of :class:`Results`."""

    @staticmethod
    def _initial_tags(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
        """Tags given in the file: first non-empty value per example across models."""
        cats = list(schema.categories)
        sub = frame[["key", *cats]]
        reviewed = sub[cats].notna().any(axis=1)
        sub = sub[reviewed.to_numpy()]
        tags = sub.groupby("key", sort=False)[cats].first() if len(sub) else \
            pd.DataFrame(columns=cats, index=pd.Index([], name="key"), dtype="boolean")
        return tags.astype("boolean")

    @property
    def file_tags(self) -> pd.DataFrame:
        """The review tags given as boolean columns in the results file (the base layer)."""
        if "file_tags" not in self._cache:
            self._cache["file_tags"] = self._initial_tags(self._frame, self.schema)
        return self._cache["file_tags"]

    def _correct_cached(self: Results, split: str, model: str) -> np.ndarray:
        """Correctness per row of a split at the current threshold, kept for repeated use."""
        return self._rows.correct(self._ikey(model, split), self.threshold_of(model))

    def review_rows(self, split: str = "dev", model: str | None = None, *,
                    misclassified_only: bool = True) -> pd.DataFrame:
        """Rows of the split with prediction and correctness at the current threshold."""
        model = self._check_model(model)
        idx = self._positions(split, model)
        correct = self._correct_cached(split, model)
        if misclassified_only:
            idx = idx[~correct]
            correct = correct[~correct]
        rows = self._frame.iloc[idx].copy()
        codes = self._predicted_codes(idx, self.threshold_of(model))
        rows["predicted"] = np.asarray(self.schema.classes, dtype=object)[codes]
        rows["correct"] = correct
        return rows

    def review_sample_rows(self, split: str = "dev", model: str | None = None, *,
                           size: int = 100, seed: int = 0, reviewed: Sequence[str] = (),
                           include_correct: bool = False, eyeball: float = 0.0
                           ) -> tuple[pd.DataFrame, int]:
        """The error-analysis sample's rows (as :meth:`review_rows`, in sample order) and how
        many rows of the split are misclassified (in the eyeball part when ``eyeball``).

        The same rows as :func:`~dashboard.metrics.sampling.sample_review_rows` on the
        split's keys, but each key's rank (and eyeball part) is hashed once per split, so a
        threshold move does integer work only (a 10M-row file's dev split: 700,000 keys).
        """
        model = self._check_model(model)
        idx = self._positions(split, model)
        correct = self._correct_cached(split, model)
        rank = self._review_ranks(split, model, seed)
        keep = self._eyeball_part(split, model, eyeball) if eyeball > 0 else None
        if rank is None:  # a rank collision: the text-sorting path decides ties
            rows = self.review_rows(split, model, misclassified_only=not include_correct)
            if keep is not None:
                rows = rows[eyeball_mask(rows["key"].to_numpy(), eyeball)]
            ok = rows["correct"].to_numpy(dtype=bool)
            pos = sample_review_rows(rows["key"].astype(str).to_numpy(), ok, size=size,
                                     seed=seed, reviewed=reviewed,
                                     include_correct=include_correct)
            return rows.iloc[pos], int((~ok).sum())
        found = self._key_positions(split, model, pd.Index([str(k) for k in reviewed]))
        done = np.zeros(idx.size, dtype=bool)
        done[found[found >= 0]] = True
        pos = sample_by_rank(rank, correct, done, size=size, include_correct=include_correct,
                             keep=keep)
        rows = self._frame.iloc[idx[pos]].copy()
        codes = self._predicted_codes(idx[pos], self.threshold_of(model))
        rows["predicted"] = np.asarray(self.schema.classes, dtype=object)[codes]
        rows["correct"] = correct[pos]
        wrong = ~correct if keep is None else ~correct & keep
        return rows, int(wrong.sum())

    def _review_ranks(self, split: str, model: str, seed: int) -> np.ndarray | None:
        """Each row's review rank in the split (None when two keys' hashes collide)."""
        key = ("review_ranks", model, split, int(seed))
        if key not in self._cache:
            name = derived_name("ranks", type(self).__name__, self._current_task, model, split,
                                int(seed))
            stored = load_derived(self._cache_entry, name) if self._cache_entry else None
            if stored is not None:  # hashed by an earlier process: mapped
                rank = stored[0]["rank"] if stored[1]["distinct"] else None
            else:
                rank = rank_keys(self._keys_at(self._positions(split, model)), seed)
                ordered = np.sort(rank)
                distinct = not np.any(ordered[1:] == ordered[:-1])
                if self._cache_entry is not None:
                    save_derived(self._cache_entry, name, {"rank": rank}, {"distinct": distinct})
                rank = rank if distinct else None
            self._cache_put(key, rank, "review_ranks", limit=8)
        return self._cache[key]

    def _eyeball_part(self, split: str, model: str, fraction: float) -> np.ndarray:
        key = ("eyeball_part", model, split, float(fraction))
        if key not in self._cache:
            self._cache_put(key, eyeball_mask(self._keys_at(self._positions(split, model)),
                                              fraction), "eyeball_part", limit=8)
        return self._cache[key]

    def reviewed_tags(self, split: str = "dev", model: str | None = None) -> pd.DataFrame:
        """Tags of the reviewed examples that are misclassified now (the tally's rows)."""
        model = self._check_model(model)
        tags = self.tags
        reviewed = tags[tags.notna().any(axis=1).to_numpy()]
        # look up the few reviewed keys in the split (each found once, then remembered), not
        # every misclassified key in the tags
        pos = self._key_positions(split, model, reviewed.index)
        wrong = np.zeros(pos.size, dtype=bool)
        found = pos >= 0
        wrong[found] = ~self._correct_cached(split, model)[pos[found]]
        return reviewed[wrong]

    def _key_positions(self, split: str, model: str, keys: pd.Index) -> np.ndarray:
        """Position within the split of each of ``keys`` (-1 when absent): one pass over the
        split's keys against a hash of the few asked for (the reviewed ones)."""
        # positions never change: each key is looked up once (a scan, ~45 ms for a 1.5M-row
        # split), so a tick costs a scan only for an example reviewed the first time
        known: dict[str, int] = self._cache.setdefault(("key_positions", model, split), {})
        texts = [str(k) for k in keys]
        new = sorted({k for k in texts if k not in known})
        if new:
            idx = self._positions(split, model)
            split_keys = self._key_arrow().take(pa.array(idx))
            asked = pa.array(new, type=pa.large_string())
            where = pc.index_in(split_keys, value_set=asked)  # per split row: which key
            rows = np.flatnonzero(where.is_valid().to_numpy(zero_copy_only=False))
            known.update(dict.fromkeys(new, -1))
            for i, row in zip(where.filter(where.is_valid()).to_numpy().tolist(),
                              rows.tolist(), strict=True):
                known[new[i]] = row
        return np.fromiter((known[k] for k in texts), dtype=np.int64, count=len(texts))

    def tally(self, split: str = "dev", model: str | None = None) -> pd.DataFrame:
        """Per category: count, share of reviewed misclassified rows, and ceiling error.

        The table's ``attrs`` carry ``reviewed``, ``split_error`` and the label-noise
        analysis (``label_noise``).
        """
        model = self._check_model(model)
        split = self._check_split(split, model)
        tags = self.reviewed_tags(split, model)
        err = float(self.error_rates(model).loc[split, "error"])
        weights = self._review_weights(tags, split, model)
        table = tally_table(tags, err, weights)
        errors = int(self.error_rates(model, weighted=False).loc[split, "errors"])
        table.attrs.update({"reviewed": len(tags), "split_error": err, "split": split,
                            "model": model, "weighted": weights is not None,
                            "label_noise": self._label_noise(table, err),
                            "fix_first": fix_first(table, err, errors=errors, split=split)})
        return table

    def _review_weights(self, tags: pd.DataFrame, split: str, model: str) -> np.ndarray | None:
        """Weights of the reviewed rows when errors are weighted, so E and s agree."""
        if not self.weighted:
            return None
        idx = self._positions(split, model)
        pos = self._key_positions(split, model, tags.index)
        weight = self._frame["weight"].to_numpy()[idx]
        return np.where(pos >= 0, weight[np.maximum(pos, 0)], np.nan)

    def label_noise(self, split: str = "dev", model: str | None = None) -> LabelNoise:
        """How much of the split's error is due to incorrect labels (DOMAIN.md section 2)."""
        return self.tally(split, model).attrs["label_noise"]

    @staticmethod
    def _label_noise(table: pd.DataFrame, error: float) -> LabelNoise:
        reviewed = int(table.attrs.get("reviewed", table["reviewed"].iloc[0] if len(table)
                                       else 0)) if len(table) else 0
        if reviewed == 0 or MISLABELLED not in table.index:
            return label_noise(error, 0.0, reviewed=reviewed)
        row = table.loc[MISLABELLED]
        return label_noise(error, float(row["share"]), reviewed=reviewed,
                           share_interval=(float(row["share_low"]), float(row["share_high"])))

    def label_noise_warning(self, split: str = "dev") -> str | None:
        """Warn when the two best models differ by less than the error due to labels."""
        if len(self.models) < 2:
            return None
        errs = sorted((float(self.error_rates(m).loc[split, "error"]), m) for m in self.models
                      if self._has_split(m, split))
        if len(errs) < 2:
            return None
        noise = self.label_noise(split, errs[0][1]).due_to_labels
        return label_noise_blocks_choice(errs[0][0], errs[1][0], noise)

    def set_tag(self, key: str, category: str, value: bool | None) -> None:
        """Tick (True), untick (False) or clear (None) one category of one example."""
        tags = self.tags
        if category not in tags.columns:
            raise DashboardError(f"unknown category {category!r}; add it first")
        key = str(key)
        if not self.has_key(key):
            raise DashboardError(f"unknown example {key!r}")
        new = tags.copy()
        if key not in new.index:
            row = pd.DataFrame([[pd.NA] * len(new.columns)], columns=new.columns,
                               index=pd.Index([key], name=new.index.name), dtype="boolean")
            new = pd.concat([new, row]).astype("boolean")
        # a reviewed example is reviewed for every category: unknown values become False
        new.loc[key] = new.loc[key].fillna(False)
        new.loc[key, category] = pd.NA if value is None else bool(value)
        self.tags = new

    def set_review(self, key: str, values: Mapping[str, bool | None]) -> None:
        """Replace one example's whole review in one change (the store's resolved values:
        categories not given, or None, read False on a reviewed example); no value at all
        clears the review."""
        key = str(key)
        if not any(v is not None for v in values.values()):
            self.clear_review(key)
            return
        if not self.has_key(key):
            raise DashboardError(f"unknown example {key!r}")
        new = self.tags.copy()
        row = [bool(values.get(c)) if values.get(c) is not None else False for c in new.columns]
        if key in new.index:
            new.loc[key] = row
        else:
            new = pd.concat([new, pd.DataFrame([row], columns=new.columns, index=pd.Index(
                [key], name=new.index.name))]).astype("boolean")
        self.tags = new

    def clear_review(self, key: str) -> None:
        """Forget that an example was reviewed (all its tags become unknown)."""
        key = str(key)
        if key in self.tags.index:
            self.tags = self.tags.drop(index=key)

    def add_category(self, name: str) -> None:
        """Add a category while reviewing; examples already reviewed get False."""
        name = str(name).strip()
        if not name:
            raise DashboardError("a category needs a name")
        if name in self.tags.columns:
            return
        new = self.tags.copy()
        new[name] = pd.array([False] * len(new), dtype="boolean")
        self.tags = new

    def rename_category(self, old: str, new_name: str) -> None:
        new_name = str(new_name).strip()
        if old == MISLABELLED:
            raise DashboardError(f"{MISLABELLED!r} is always present and cannot be renamed")
        if old not in self.tags.columns:
            raise DashboardError(f"unknown category {old!r}")
        if not new_name or new_name in self.tags.columns:
            raise DashboardError(f"cannot rename {old!r} to {new_name!r}: empty or taken")
        self.tags = self.tags.rename(columns={old: new_name})

    def remove_category(self, name: str) -> None:
        if name == MISLABELLED:
            raise DashboardError(f"{MISLABELLED!r} is always present and cannot be removed")
        if name in self.tags.columns:
            self.tags = self.tags.drop(columns=[name])

    def set_comment(self, key: str, text: str) -> None:
        self.comments = {**self.comments, str(key): str(text)}

