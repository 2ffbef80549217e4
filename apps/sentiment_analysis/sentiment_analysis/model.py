"""The sentiment models, standard library only, so that `train.py` needs nothing installed and
training and serving cannot tokenise differently.

Two artifacts of one framework, `bag-of-words` (this module is what serves it):
- a classifier: multinomial naive Bayes over words, stored as whole-number counts;
- a regressor: ridge regression on each text's words, stored as weights rounded to 6 decimals.
Both depend only on the examples, never on their order or the machine: equal data, equal bytes,
which is what lets a test prove training is reproducible."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FRAMEWORK = "bag-of-words"
FORMAT = 1
CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)
# A regression predicts a sentiment score: -1 (very negative) to 1 (very positive).
SCORE_RANGE = (-1.0, 1.0)
DECIMALS = 6

# Words and the punctuation that ends a negation's reach ("not good, but cheap": only `good` is negated).
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[.,;:!?]")
_NEGATORS = frozenset({"not", "no", "never", "nothing", "hardly", "cannot"})
# Words that say nothing about sentiment. Negators are deliberately not among them.
# fmt: off
_STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "been", "by", "for", "from", "has", "have", "i", "in",
    "is", "it", "its", "me", "my", "of", "on", "or", "our", "so", "the", "their", "them", "these",
    "they", "this", "to", "us", "was", "we", "were", "with", "you",
})
# fmt: on


class ModelError(ValueError):
    """The artifact is not a model this code can serve; the message is a predicate of it."""


def tokenize(text: str) -> list[str]:
    """Lower-case words, stop words removed; a word after a negator (up to the next punctuation)
    becomes `not_<word>`, so "not good" and "good" count as different evidence."""
    tokens: list[str] = []
    negated = False
    # A typographic apostrophe (U+2019) as a plain one: the two spellings of "don't" negate alike.
    for token in _TOKEN.findall(text.lower().replace("\u2019", "'")):
        if not token[0].isalpha():
            negated = False
        elif token not in _STOP_WORDS:
            tokens.append(f"not_{token}" if negated else token)
            negated = negated or token in _NEGATORS or token.endswith("n't")
    return tokens


def dumps(artifact: Mapping[str, Any]) -> str:
    """The artifact's text: one canonical serialisation, so equal artifacts are equal files."""
    return json.dumps(artifact, sort_keys=True, indent=1, ensure_ascii=True) + "\n"


def _header(task: str, algorithm: str) -> dict[str, Any]:
    return {"framework": FRAMEWORK, "format": FORMAT, "task": task, "algorithm": algorithm}


# --------------------------------------------------------------------------- classification
def train_classifier(examples: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Document and word counts per class, for (text, class) pairs."""
    documents: Counter[str] = Counter()
    words: dict[str, Counter[str]] = {}
    for text, label in examples:
        documents[label] += 1
        words.setdefault(label, Counter()).update(tokenize(text))
    if len(documents) < 2:
        raise ModelError("has examples of fewer than two classes: a classifier needs at least two")
    return {
        **_header(CLASSIFICATION, "multinomial-naive-bayes"),
        "classes": sorted(documents),
        "documents": dict(documents),
        "words": {label: dict(counts) for label, counts in words.items()},
    }


@dataclass(frozen=True)
class Classifier:
    classes: tuple[str, ...]
    log_priors: dict[str, float]
    # log P(word | class) with add-one smoothing, and the value for a word never seen in the class.
    log_likelihoods: dict[str, dict[str, float]]
    log_unseen: dict[str, float]
    vocabulary: frozenset[str]

    @classmethod
    def from_artifact(cls, artifact: Mapping[str, Any]) -> Classifier:
        try:
            classes = tuple(str(label) for label in artifact["classes"])
            documents = {label: int(artifact["documents"][label]) for label in classes}
            words = {label: {str(w): int(n) for w, n in artifact["words"].get(label, {}).items()} for label in classes}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"has a missing or malformed field ({exc!r})") from None
        if len(set(classes)) < 2 or min(documents.values()) < 1:
            raise ModelError("has fewer than two classes, or a class without documents")
        vocabulary = frozenset(w for counts in words.values() for w in counts)
        total = sum(documents.values())
        log_likelihoods: dict[str, dict[str, float]] = {}
        log_unseen: dict[str, float] = {}
        for label in classes:
            denominator = sum(words[label].values()) + len(vocabulary)
            log_likelihoods[label] = {w: math.log((n + 1) / denominator) for w, n in words[label].items()}
            log_unseen[label] = math.log(1 / denominator)
        return cls(
            classes=classes,
            log_priors={label: math.log(documents[label] / total) for label in classes},
            log_likelihoods=log_likelihoods,
            log_unseen=log_unseen,
            vocabulary=vocabulary,
        )

    def probabilities(self, text: str, classes: Iterable[str] | None = None) -> dict[str, float]:
        """P(class | text), over `classes` (default: all) as if they were the only ones. Words the
        model never saw carry no evidence; a text with none it knows gets the priors."""
        words = [w for w in tokenize(text) if w in self.vocabulary]
        scores = {
            label: self.log_priors[label]
            + sum(self.log_likelihoods[label].get(w, self.log_unseen[label]) for w in words)
            for label in (self.classes if classes is None else classes)
        }
        # Softmax from the largest score: exp() of a long text's sums would underflow to zero.
        top = max(scores.values())
        weights = {label: math.exp(score - top) for label, score in scores.items()}
        total = sum(weights.values())
        return {label: weight / total for label, weight in weights.items()}


# --------------------------------------------------------------------------- regression
def _features(text: str) -> tuple[frozenset[str], float]:
    """A text's distinct words, each weighing 1/sqrt(count): every text is a unit vector, so a
    long review does not score more extreme than a short one saying the same."""
    words = frozenset(tokenize(text))
    return words, 1 / math.sqrt(len(words)) if words else 0.0


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Gaussian elimination for a symmetric positive definite system (no pivoting needed); a
    fixed order of operations, so the same system gives the same floats everywhere."""
    n = len(rhs)
    a = [[*row, b] for row, b in zip(matrix, rhs, strict=True)]
    for i in range(n):
        for k in range(i + 1, n):
            factor = a[k][i] / a[i][i]
            if factor:
                a[k] = [x - factor * y for x, y in zip(a[k], a[i], strict=True)]
    solution = [0.0] * n
    for i in reversed(range(n)):
        solution[i] = (a[i][n] - sum(a[i][j] * solution[j] for j in range(i + 1, n))) / a[i][i]
    return solution


def train_regressor(examples: Iterable[tuple[str, float]], alpha: float) -> dict[str, Any]:
    """Ridge regression of the score on the words, with an unpenalised intercept (the mean score).

    Solved in its dual form, (K + alpha I) c = y - mean, K the texts' pairwise dot products, w = X^T c:
    a system as large as the number of texts (about a hundred), not the vocabulary."""
    rows = sorted((text, float(score)) for text, score in examples)
    if len(rows) < 2:
        raise ModelError("has fewer than two examples: a regressor needs at least two")
    if alpha <= 0:
        raise ModelError(f"alpha must be above 0, not {alpha}")
    features = [_features(text) for text, _ in rows]
    mean = sum(score for _, score in rows) / len(rows)
    gram = [
        [len(wi & wj) * si * sj + (alpha if i == j else 0.0) for j, (wj, sj) in enumerate(features)]
        for i, (wi, si) in enumerate(features)
    ]
    dual = _solve(gram, [score - mean for _, score in rows])
    weights: dict[str, float] = {}
    for (words, scale), c in zip(features, dual, strict=True):
        for word in words:
            weights[word] = weights.get(word, 0.0) + c * scale
    rounded = {word: round(w, DECIMALS) for word, w in weights.items()}
    return {
        **_header(REGRESSION, "ridge"),
        "alpha": alpha,
        "range": list(SCORE_RANGE),
        "intercept": round(mean, DECIMALS),
        # Weights that round to zero carry nothing: left out (and never written as -0.0).
        "weights": {word: w for word, w in rounded.items() if w != 0},
    }


@dataclass(frozen=True)
class Regressor:
    intercept: float
    weights: dict[str, float]
    low: float
    high: float

    @classmethod
    def from_artifact(cls, artifact: Mapping[str, Any]) -> Regressor:
        try:
            low, high = (float(bound) for bound in artifact["range"])
            weights = {str(w): float(v) for w, v in artifact["weights"].items()}
            intercept = float(artifact["intercept"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"has a missing or malformed field ({exc!r})") from None
        if not low < high or not all(math.isfinite(v) for v in (intercept, *weights.values())):
            raise ModelError("has an empty range or a weight that is not a finite number")
        return cls(intercept=intercept, weights=weights, low=low, high=high)

    def value(self, text: str) -> float:
        """The predicted score, clipped to the range the model was trained on."""
        words, scale = _features(text)
        raw = self.intercept + scale * sum(self.weights.get(w, 0.0) for w in words)
        return min(self.high, max(self.low, raw))


# --------------------------------------------------------------------------- artifacts
def read_artifact(path: Path) -> dict[str, Any]:
    """The artifact's JSON, with the header every artifact of this framework carries checked."""
    try:
        artifact = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"is not JSON ({exc})") from None
    if not isinstance(artifact, dict):
        raise ModelError("is not a JSON object")
    if artifact.get("task") not in TASKS:
        raise ModelError(f"declares task {artifact.get('task')!r}, not one of {', '.join(TASKS)}")
    return artifact


def load_model(artifact: Mapping[str, Any]) -> Classifier | Regressor:
    """The model an artifact of this framework describes (the caller has checked the framework)."""
    if artifact.get("format") != FORMAT:
        raise ModelError(f"has format {artifact.get('format')!r}, not {FORMAT}: retrain it with this version")
    if artifact["task"] == CLASSIFICATION:
        return Classifier.from_artifact(artifact)
    return Regressor.from_artifact(artifact)
