"""The document tagger: a multinomial naive Bayes over words, standard library only, so that
`train.py` needs nothing installed and training and serving cannot tokenise differently.

The artifact stores whole-number counts rather than fitted floats: the same articles give the
same bytes on every machine, which is what lets a test prove training is reproducible."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "naive-bayes/1"

_WORD = re.compile(r"[a-z]+")
# Words that say nothing about an article's topic, dropped before counting and before scoring
# (words under three letters are dropped anyway).
# fmt: off
_STOP_WORDS = frozenset({
    "about", "after", "all", "and", "are", "been", "but", "for", "from", "had", "has", "have", "her",
    "his", "into", "its", "more", "most", "new", "next", "not", "our", "over", "said", "says", "she",
    "than", "that", "the", "their", "them", "they", "this", "was", "were", "which", "who", "will",
    "with", "would",
})
# fmt: on


class ModelError(ValueError):
    """The artifact is not a model this code can serve; the message is a predicate of it."""


def tokenize(text: str) -> list[str]:
    """Lower-case words of three letters or more, stop words removed."""
    return [word for word in _WORD.findall(text.lower()) if len(word) > 2 and word not in _STOP_WORDS]


def train(examples: Iterable[tuple[str, str]], target: str) -> dict[str, Any]:
    """The artifact for (text, label) pairs: document and word counts per label, keys sorted by
    the JSON writer so the artifact depends only on the examples, never on their order."""
    documents: Counter[str] = Counter()
    words: dict[str, Counter[str]] = {}
    for text, label in examples:
        documents[label] += 1
        words.setdefault(label, Counter()).update(tokenize(text))
    if len(documents) < 2:
        raise ModelError("has examples of fewer than two labels: training needs at least two")
    return {
        "format": FORMAT,
        "target": target,
        "classes": sorted(documents),
        "documents": dict(documents),
        "words": {label: dict(counts) for label, counts in words.items()},
    }


def dumps(artifact: Mapping[str, Any]) -> str:
    """The artifact's text: one canonical serialisation, so equal artifacts are equal files."""
    return json.dumps(artifact, sort_keys=True, indent=1, ensure_ascii=True) + "\n"


@dataclass(frozen=True)
class Model:
    target: str
    classes: tuple[str, ...]
    log_priors: dict[str, float]
    # log P(word | class) with add-one smoothing, and the value for a word never seen in the class.
    log_likelihoods: dict[str, dict[str, float]]
    log_unseen: dict[str, float]
    vocabulary: frozenset[str]

    @classmethod
    def from_artifact(cls, artifact: Mapping[str, Any]) -> Model:
        if artifact.get("format") != FORMAT:
            raise ModelError(f"has format {artifact.get('format')!r}, not {FORMAT!r}")
        try:
            classes = tuple(artifact["classes"])
            documents = {label: int(artifact["documents"][label]) for label in classes}
            words = {label: {w: int(n) for w, n in artifact["words"].get(label, {}).items()} for label in classes}
            target = str(artifact["target"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"has a missing or malformed field ({exc})") from None
        if len(classes) < 2 or min(documents.values()) < 1:
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
            target=target,
            classes=classes,
            log_priors={label: math.log(documents[label] / total) for label in classes},
            log_likelihoods=log_likelihoods,
            log_unseen=log_unseen,
            vocabulary=vocabulary,
        )

    @classmethod
    def load(cls, path: Path) -> Model:
        try:
            artifact = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ModelError(f"cannot be read ({exc.strerror})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"is not JSON ({exc})") from None
        if not isinstance(artifact, dict):
            raise ModelError("is not a JSON object")
        return cls.from_artifact(artifact)

    def probabilities(self, text: str) -> dict[str, float]:
        """P(class | text). Words the model never saw carry no evidence and are skipped; a text
        with none it knows gets the priors."""
        words = [w for w in tokenize(text) if w in self.vocabulary]
        scores = {
            label: self.log_priors[label]
            + sum(self.log_likelihoods[label].get(w, self.log_unseen[label]) for w in words)
            for label in self.classes
        }
        # Softmax from the largest score: exp() of long texts' sums would underflow to zero.
        top = max(scores.values())
        weights = {label: math.exp(score - top) for label, score in scores.items()}
        total = sum(weights.values())
        return {label: weight / total for label, weight in weights.items()}
