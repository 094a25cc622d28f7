"""Word features beside the embedding, for linear heads: TF-IDF of words and word pairs.

A sentence embedding says what a passage is about more than how it is said. Codes marked by
wording (first-person talk against report prose, a complaint's phrasing, a named scheme)
are learnt from the words themselves better: a linear head on TF-IDF gives each code a
second set of logits, added to the embedding head's with a weight that `train` chooses on the
examples' out-of-fold scores, so a codebook whose codes the words do not mark keeps weight 0
(docs/coding-quality.md, "Lexical features").

The vocabulary and inverse document frequencies are stored with the model (`lexical.json`,
`head.safetensors`) and applied here, so scoring needs no fitted scikit-learn object.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse

# The weights `train` tries for the word head's logits (0: the embedding alone). Chosen by
# the calibration examples' macro-F1; above 2 gained nothing measured.
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)
MAX_TERMS = 20000
NGRAMS = (1, 2)
# Every word, one letter long too ("I", "a"): scikit-learn's default drops them.
TOKENS = r"(?u)\b\w+\b"
FILE = "lexical.json"


class Vocabulary:
    """Terms (words and word pairs, lower-cased) with their inverse document frequencies."""

    def __init__(self, terms: Sequence[str], idf: np.ndarray):
        from sklearn.feature_extraction.text import CountVectorizer

        self.terms = list(terms)
        self.idf = np.asarray(idf, np.float32)
        self._counter = CountVectorizer(
            ngram_range=NGRAMS,
            token_pattern=TOKENS,
            vocabulary={t: i for i, t in enumerate(self.terms)},
        )

    @classmethod
    def fit(cls, texts: Sequence[str]) -> Vocabulary:
        """The `MAX_TERMS` most frequent terms of `texts`, with smoothed idf as scikit-learn's
        TfidfVectorizer computes it."""
        from sklearn.feature_extraction.text import CountVectorizer

        counter = CountVectorizer(ngram_range=NGRAMS, token_pattern=TOKENS, max_features=MAX_TERMS)
        counts = counter.fit_transform(list(texts))
        terms = counter.get_feature_names_out()
        df = np.bincount(counts.indices, minlength=len(terms))
        idf = np.log((1 + counts.shape[0]) / (1 + df)) + 1
        return cls(list(terms), idf)

    def features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """(n texts, n terms), sparse: sublinear term frequency times idf, rows of unit length."""
        counts = self._counter.transform(list(texts)).astype(np.float32).tocsr()
        counts.data = (1 + np.log(counts.data)) * self.idf[counts.indices]
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        return sparse.diags(1 / np.maximum(norms, 1e-12)).astype(np.float32) @ counts

    def save(self, folder: Path) -> None:
        (folder / FILE).write_text(json.dumps({"ngram_range": list(NGRAMS), "terms": self.terms}))

    @classmethod
    def load(cls, folder: Path, idf: np.ndarray) -> Vocabulary:
        return cls(json.loads((folder / FILE).read_text())["terms"], idf)

    def strongest(self, text: str, weight: np.ndarray, n: int = 5) -> list[tuple[str, float]]:
        """The terms of `text` that raise a code's logit most (`weight`: the code's row of the
        word head), highest first; none that lower it."""
        row = self.features([text])
        added = row.data * weight[row.indices]
        return [
            (self.terms[row.indices[i]], round(float(added[i]), 3))
            for i in np.argsort(-added)[:n]
            if added[i] > 0
        ]
