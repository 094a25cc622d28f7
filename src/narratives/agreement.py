"""Agreement between two coders, where the model counts as one coder.

A coder is named `model` (the latest run's model), `model:<model_id>`, or a person's name
(their human codings: reviewed in `narratives review` or imported). The passages compared are
those both coded: for a person, every passage with a coding or review decision of theirs; for a
model, every passage it scored. On each of those passages a coder's codes are the codes they
applied there; every other code counts as not applied.

Codes compared are the codes either coder applied on the shared passages (or the one asked
for): a code nobody applied there has no variation, and its kappa of 1.0 would only inflate
the mean. Per code: Cohen's kappa, percent agreement and counts; overall: Krippendorff's
alpha (nominal, each passage x code a unit with two values) and the mean kappa. The measures
are those of `narratives.metrics`, shared with model evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb
import numpy as np

from narratives.human import coder_passages_sql
from narratives.metrics import multilabel_report
from narratives.review import ReviewError, check_coder, latest_model_id


class AgreementError(ValueError):
    """Agreement cannot be computed as asked; the message says why and what to try."""


@dataclass(frozen=True)
class Coder:
    """One side of a comparison: a model (by model id) or a person (by name)."""

    kind: str  # model | human
    name: str

    @property
    def label(self) -> str:
        return f"model {self.name}" if self.kind == "model" else self.name


@dataclass(frozen=True)
class CodeAgreement:
    code: str
    kappa: float
    percent_agreement: float
    both: int
    only_a: int
    only_b: int
    neither: int


@dataclass(frozen=True)
class AgreementReport:
    coder_a: Coder
    coder_b: Coder
    n_passages: int
    per_code: tuple[CodeAgreement, ...]
    krippendorff_alpha: float | None
    mean_kappa: float | None

    def to_json(self) -> dict:
        return {
            "coder_a": self.coder_a.label,
            "coder_b": self.coder_b.label,
            "n_passages": self.n_passages,
            "per_code": {
                c.code: {
                    "kappa": c.kappa,
                    "percent_agreement": c.percent_agreement,
                    "both": c.both,
                    "only_a": c.only_a,
                    "only_b": c.only_b,
                }
                for c in self.per_code
            },
            "krippendorff_alpha": self.krippendorff_alpha,
            "mean_kappa": self.mean_kappa,
        }


def resolve_coder(con: duckdb.DuckDBPyConnection, spec: str) -> Coder:
    """`model`, `model:<model_id>` or a person's name -> a `Coder` that has coded something."""
    spec = (spec or "").strip()
    if spec.lower() == "model":
        try:
            return Coder("model", latest_model_id(con))
        except ReviewError as e:
            raise AgreementError(str(e)) from e
    if spec.lower().startswith("model:"):
        model_id = spec[len("model:") :].strip()
        models = [r[0] for r in con.execute(
            "SELECT DISTINCT model_id FROM code_scores ORDER BY 1").fetchall()]  # fmt: skip
        if model_id not in models:
            raise AgreementError(
                f"model '{model_id}' has scored no passage here; models: "
                f"{', '.join(models) or 'none (run `narratives run` first)'}"
            )
        return Coder("model", model_id)
    try:
        name = check_coder(spec)
    except ReviewError as e:
        raise AgreementError(str(e)) from e
    found = con.execute(f"SELECT count(*) FROM ({coder_passages_sql()})", [name, name]).fetchone()
    if not found[0]:
        coders = [r[0] for r in con.execute(
            "SELECT coder FROM codings WHERE source = 'human' AND coder IS NOT NULL "
            "UNION SELECT coder FROM review_decisions ORDER BY 1").fetchall()]  # fmt: skip
        raise AgreementError(
            f"coder '{name}' has no codings or review decisions here; coders: "
            f"{', '.join(['model', *coders])}"
        )
    return Coder("human", name)


def _passages(con: duckdb.DuckDBPyConnection, coder: Coder) -> set[str]:
    if coder.kind == "model":
        sql, params = "SELECT DISTINCT passage_id FROM code_scores WHERE model_id = ?", [coder.name]
    else:
        sql, params = coder_passages_sql(), [coder.name, coder.name]
    return {r[0] for r in con.execute(sql, params).fetchall()}


def _codings(con: duckdb.DuckDBPyConnection, coder: Coder) -> set[tuple[str, str]]:
    if coder.kind == "model":
        where = "source = 'model' AND model_id = ?"
    else:
        where = "source = 'human' AND coder = ?"
    rows = con.execute(f"SELECT passage_id, code FROM codings WHERE {where}", [coder.name])
    return {(p, c) for p, c in rows.fetchall()}


def agreement(
    con: duckdb.DuckDBPyConnection, coder_a: str, coder_b: str, code: str | None = None
) -> AgreementReport:
    """Agreement of two coders (see the module docstring) on the passages both coded."""
    a, b = resolve_coder(con, coder_a), resolve_coder(con, coder_b)
    if a == b:
        raise AgreementError(f"--coder-a and --coder-b are both {a.label}; name two coders")
    passages_a, passages_b = _passages(con, a), _passages(con, b)
    shared = sorted(passages_a & passages_b)
    if not shared:
        raise AgreementError(
            f"{a.label} ({len(passages_a)} passages) and {b.label} ({len(passages_b)} passages) "
            "share no coded passage; review or import codings of the same passages first"
        )
    keep = set(shared)
    codings_a = {(p, c) for p, c in _codings(con, a) if p in keep}
    codings_b = {(p, c) for p, c in _codings(con, b) if p in keep}
    codes = [code] if code else sorted({c for _, c in codings_a | codings_b})
    if not codes:
        return AgreementReport(a, b, len(shared), (), None, None)
    index = {p: i for i, p in enumerate(shared)}
    col = {c: j for j, c in enumerate(codes)}
    matrix_a = np.zeros((len(shared), len(codes)), dtype=bool)
    matrix_b = np.zeros_like(matrix_a)
    for matrix, codings in ((matrix_a, codings_a), (matrix_b, codings_b)):
        for p, c in codings:
            if c in col:
                matrix[index[p], col[c]] = True
    report = multilabel_report(matrix_a, matrix_b, codes)
    per_code = []
    for j, c in enumerate(codes):
        x, y = matrix_a[:, j], matrix_b[:, j]
        per_code.append(
            CodeAgreement(
                code=c,
                kappa=report["per_code"][c]["kappa"],
                percent_agreement=round(float(np.mean(x == y)), 4),
                both=int(np.sum(x & y)),
                only_a=int(np.sum(x & ~y)),
                only_b=int(np.sum(~x & y)),
                neither=int(np.sum(~x & ~y)),
            )
        )
    return AgreementReport(
        a, b, len(shared), tuple(per_code),
        _number(report["krippendorff_alpha"]), _number(report["mean_kappa"]),
    )  # fmt: skip


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
