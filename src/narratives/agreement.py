"""Agreement between two coders, where the model counts as one coder.

A coder is named `model` (the latest run's model), `model:<model_id>`, or a person's name
(their human decisions: review decisions in `narratives review`, or imported full codings).
Coders are compared per (passage, code) pair, on the pairs both decided: a person decides the
pairs in the view `human_decisions` (every code of a passage whose full coding they imported;
only the pair itself for a review decision), the model every code of every passage it scored
(applied iff it applied it). A code a reviewer did not decide is left out, never counted as
"not applied". `n_passages` counts the passages with at least one pair both decided.

Codes compared are the codes either coder applied on the pairs both decided (or the one asked
for): a code nobody applied there has no variation, and its kappa of 1.0 would only inflate
the mean. Per code, over that code's pairs both decided: Cohen's kappa, percent agreement and
counts; overall: Krippendorff's alpha (nominal, each pair a unit with two values) and the mean
kappa. The measures are those of `narratives.metrics`, shared with model evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb
import numpy as np

from narratives.human import HumanCodingError, coder_passages_sql, require_human_decisions
from narratives.metrics import cohen_kappa, krippendorff_alpha_nominal
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
                    "neither": c.neither,
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
    try:
        require_human_decisions(con)
    except HumanCodingError as e:
        raise AgreementError(str(e)) from e
    found = con.execute(
        f"SELECT count(*) FROM ({coder_passages_sql('$coder')})", {"coder": name}
    ).fetchone()
    if not found[0]:
        coders = [r[0] for r in con.execute(
            "SELECT coder FROM codings WHERE source = 'human' AND coder IS NOT NULL "
            "UNION SELECT coder FROM review_decisions "
            "UNION SELECT coder FROM human_coded_passages ORDER BY 1").fetchall()]  # fmt: skip
        raise AgreementError(
            f"coder '{name}' has no codings or review decisions here; coders: "
            f"{', '.join(['model', *coders])}"
        )
    return Coder("human", name)


def _passages(con: duckdb.DuckDBPyConnection, coder: Coder) -> set[str]:
    if coder.kind == "model":
        sql = "SELECT DISTINCT passage_id FROM code_scores WHERE model_id = $coder"
    else:
        sql = coder_passages_sql("$coder")
    return {r[0] for r in con.execute(sql, {"coder": coder.name}).fetchall()}


def _decisions_sql(coder: Coder, param: str) -> str:
    """SQL for the pairs `coder` decided: (passage_id, code, applied)."""
    if coder.kind == "human":
        return f"SELECT passage_id, code, applied FROM human_decisions WHERE coder = {param}"
    # The model decides every code of every passage it scored.
    return f"""
        SELECT s.passage_id, k.code, m.code IS NOT NULL AS applied
        FROM (SELECT DISTINCT passage_id FROM code_scores WHERE model_id = {param}) s
        CROSS JOIN (SELECT code FROM code_scores UNION SELECT code FROM codings) k
        LEFT JOIN (SELECT DISTINCT passage_id, code FROM codings
                   WHERE source = 'model' AND model_id = {param}) m
          ON m.passage_id = s.passage_id AND m.code = k.code"""


def _shared_pairs(
    con: duckdb.DuckDBPyConnection, a: Coder, b: Coder
) -> list[tuple[str, str, bool, bool]]:
    """(passage_id, code, applied by a, applied by b) for every pair both decided."""
    return con.execute(
        f"""
        WITH a AS ({_decisions_sql(a, "$a")}), b AS ({_decisions_sql(b, "$b")})
        SELECT a.passage_id, a.code, a.applied, b.applied
        FROM a JOIN b ON a.passage_id = b.passage_id AND a.code = b.code
        ORDER BY a.passage_id, a.code
        """,
        {"a": a.name, "b": b.name},
    ).fetchall()


def agreement(
    con: duckdb.DuckDBPyConnection, coder_a: str, coder_b: str, code: str | None = None
) -> AgreementReport:
    """Agreement of two coders (see the module docstring) on the (passage, code) pairs both
    decided."""
    a, b = resolve_coder(con, coder_a), resolve_coder(con, coder_b)
    if a == b:
        raise AgreementError(f"--coder-a and --coder-b are both {a.label}; name two coders")
    try:
        require_human_decisions(con)
    except HumanCodingError as e:
        raise AgreementError(str(e)) from e
    pairs = _shared_pairs(con, a, b)
    if code:
        pairs = [row for row in pairs if row[1] == code]
    if not pairs:
        passages_a, passages_b = _passages(con, a), _passages(con, b)
        shared = passages_a & passages_b
        if not shared:
            raise AgreementError(
                f"{a.label} ({len(passages_a)} passages) and {b.label} ({len(passages_b)} "
                "passages) share no coded passage; review or import codings of the same "
                "passages first"
            )
        which = f"code {code}" if code else "code"
        raise AgreementError(
            f"{a.label} and {b.label} share {len(shared)} passages but decided no {which} of "
            "them both; review the same codes of those passages, or import full codings"
        )
    n_passages = len({p for p, *_ in pairs})
    codes = [code] if code else sorted({c for _, c, x, y in pairs if x or y})
    if not codes:
        return AgreementReport(a, b, n_passages, (), None, None)
    by_code: dict[str, list[tuple[bool, bool]]] = {c: [] for c in codes}
    for _, c, x, y in pairs:
        if c in by_code:
            by_code[c].append((bool(x), bool(y)))
    per_code = []
    for c in codes:
        values = np.array(by_code[c], dtype=bool).reshape(-1, 2)
        x, y = values[:, 0], values[:, 1]
        per_code.append(
            CodeAgreement(
                code=c,
                kappa=round(cohen_kappa(x, y), 4),
                percent_agreement=round(float(np.mean(x == y)), 4),
                both=int(np.sum(x & y)),
                only_a=int(np.sum(x & ~y)),
                only_b=int(np.sum(~x & y)),
                neither=int(np.sum(~x & ~y)),
            )
        )
    units = [list(v) for c in codes for v in by_code[c]]
    alpha = round(krippendorff_alpha_nominal(units), 4)
    mean_kappa = round(float(np.mean([c.kappa for c in per_code])), 4)
    return AgreementReport(a, b, n_passages, tuple(per_code), _number(alpha), _number(mean_kappa))


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
