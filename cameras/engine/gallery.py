"""The enrolled faces of the campus held as one matrix, and the matching rule.

A face matches a student only when the student's nearest enrolment is within
`threshold` AND every other student is at least `margin` farther away. Anything
else is "unknown": a wrong student marked present is worse than a missed one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

MATCHED = "matched"
NO_CANDIDATES = "no_candidates"
ABOVE_THRESHOLD = "above_threshold"
AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class Match:
    """The outcome for one face. `student_id` is None for unknown; `reason` says why.

    `distance` is to the nearest candidate (`candidate_id`), `runner_up_distance`
    to the nearest *other* student in the whole gallery (inf when there is none).
    """

    student_id: int | None
    distance: float
    runner_up_distance: float
    reason: str
    candidate_id: int | None = None
    runner_up_id: int | None = None

    @property
    def matched(self) -> bool:
        return self.student_id is not None


class Gallery:
    """Enrolment vectors (N x D float32) with the student of each row.

    Rows are sorted by student once, so "nearest enrolment per student" is one
    `np.minimum.reduceat` over the distance column.
    """

    def __init__(self, student_ids: Sequence[int], vectors: ArrayLike, version: object = None) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        ids = np.asarray(student_ids, dtype=np.int64)
        if vectors.ndim != 2 or ids.ndim != 1 or len(ids) != vectors.shape[0]:
            raise ValueError("A gallery needs one student id per row of an N x D matrix.")
        order = np.argsort(ids, kind="stable")
        self.version = version
        self.dimension = vectors.shape[1]
        self._ids = ids[order]
        self._vectors = np.ascontiguousarray(vectors[order])
        self._sq_norms = np.einsum("ij,ij->i", self._vectors, self._vectors)
        self.students, self._starts = np.unique(self._ids, return_index=True)

    @classmethod
    def empty(cls, dimension: int = 128, version: object = None) -> Gallery:
        return cls([], np.zeros((0, dimension), dtype=np.float32), version)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, student_id: object) -> bool:
        index = int(np.searchsorted(self.students, student_id))  # type: ignore[call-overload]
        return index < len(self.students) and self.students[index] == student_id

    def student_distances(self, vectors: ArrayLike) -> NDArray[np.float32]:
        """Distance from each query (k x D) to each student's nearest enrolment: k x S."""
        queries = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if queries.shape[1] != self.dimension:
            raise ValueError(f"Query vectors have {queries.shape[1]} dimensions, the gallery {self.dimension}.")
        if not len(self._ids):
            return np.zeros((queries.shape[0], 0), dtype=np.float32)
        # |a-b|^2 = |a|^2 + |b|^2 - 2ab: one matrix product instead of N subtractions.
        squared = self._sq_norms[:, None] - 2.0 * (self._vectors @ queries.T)
        squared += np.einsum("ij,ij->i", queries, queries)[None, :]
        per_student = np.minimum.reduceat(squared, self._starts, axis=0)
        return np.sqrt(np.maximum(per_student, 0.0)).T

    def match(
        self,
        vector: ArrayLike,
        *,
        threshold: float,
        margin: float,
        restrict_to: set[int] | None = None,
    ) -> Match:
        """Match one face; see `match_many`."""
        return self.match_many(np.atleast_2d(vector), threshold=threshold, margin=margin, restrict_to=restrict_to)[0]

    def match_many(
        self,
        vectors: NDArray[np.floating[Any]] | Iterable[ArrayLike],
        *,
        threshold: float,
        margin: float,
        restrict_to: set[int] | None = None,
    ) -> list[Match]:
        """Match several faces at once.

        `restrict_to` limits the *candidates* (e.g. the students of the session open
        in the room), but the runner-up is still searched in the whole gallery: a
        closer student outside the set makes the face ambiguous, never a match for
        someone inside it.
        """
        queries = np.asarray(list(vectors) if not isinstance(vectors, np.ndarray) else vectors, dtype=np.float32)
        if not queries.size:
            return []
        distances = self.student_distances(queries)
        allowed = np.ones(len(self.students), dtype=bool)
        if restrict_to is not None:
            allowed = np.isin(self.students, np.fromiter(restrict_to, dtype=np.int64, count=len(restrict_to)))
        return [self._decide(row, allowed, threshold, margin) for row in distances]

    def _decide(self, row: NDArray[np.float32], allowed: NDArray[np.bool_], threshold: float, margin: float) -> Match:
        inf = float("inf")
        if not allowed.any():
            nearest = int(np.argmin(row)) if len(row) else None
            return Match(
                None,
                inf,
                float(row[nearest]) if nearest is not None else inf,
                NO_CANDIDATES,
                runner_up_id=int(self.students[nearest]) if nearest is not None else None,
            )
        candidates = np.where(allowed, row, np.inf)
        best = int(np.argmin(candidates))
        others = row.copy()
        others[best] = np.inf
        runner = int(np.argmin(others)) if len(others) > 1 else None
        best_distance = float(row[best])
        runner_distance = float(others[runner]) if runner is not None else inf
        if best_distance > threshold:
            reason = ABOVE_THRESHOLD
        elif runner_distance - best_distance < margin:
            reason = AMBIGUOUS
        else:
            reason = MATCHED
        return Match(
            student_id=int(self.students[best]) if reason == MATCHED else None,
            distance=best_distance,
            runner_up_distance=runner_distance,
            reason=reason,
            candidate_id=int(self.students[best]),
            runner_up_id=int(self.students[runner]) if runner is not None else None,
        )
