"""Train the sentiment models from `data/reviews.jsonl`: the classifier (`classifier.json`) and the
regressor (`regressor.json`), written to `model/` (what the image ships) and to the repository's
mirror of the platform's artifact bucket (what catalogue versions 210 and 211 name,
gs://acme-ml-platform-ml-artifacts/models/sentiment/...).

Standard library only and deterministic: run it again on the same reviews and no file changes
(a test checks the shipped and mirrored models are exactly what this script writes).

    python apps/sentiment_analysis/train.py [--data FILE] [--out DIR] [--mirror DIR | --no-mirror]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# The package sits next to this script, which must run without installing anything.
from sentiment_analysis.model import (  # noqa: E402
    SCORE_RANGE,
    ModelError,
    dumps,
    train_classifier,
    train_regressor,
)

CLASSES = ("negative", "neutral", "positive")
# Ridge penalty: small enough that clear words move the score, large enough that one review's
# odd word does not.
ALPHA = 0.5
MIRROR = HERE.parent.parent / "artifacts"
# Where each artifact lives in the bucket: gs://<bucket>/<object> is <mirror>/<bucket>/<object>.
OBJECTS = {
    "classifier.json": "acme-ml-platform-ml-artifacts/models/sentiment/210/classifier.json",
    "regressor.json": "acme-ml-platform-ml-artifacts/models/sentiment/211/regressor.json",
}


def read_reviews(path: Path) -> list[tuple[str, str, float]]:
    """(text, class, score) per line: a JSON object with `text`, `sentiment` (one of CLASSES) and
    `score` (-1 to 1, its sign agreeing with the class)."""
    reviews = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, label, score = str(row["text"]), row["sentiment"], float(row["score"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SystemExit(
                f"{path}:{number}: each line must be a JSON object with text, sentiment and a numeric score ({exc})"
            ) from None
        low, high = SCORE_RANGE
        if label not in CLASSES or not (math.isfinite(score) and low <= score <= high):
            raise SystemExit(f"{path}:{number}: sentiment must be one of {', '.join(CLASSES)} and score from -1 to 1")
        if (label == "negative" and score >= 0) or (label == "positive" and score <= 0):
            raise SystemExit(f"{path}:{number}: a {label} review with score {score}: fix one of them")
        reviews.append((text, label, score))
    return reviews


def artifacts(reviews: list[tuple[str, str, float]]) -> dict[str, str]:
    """File name -> the artifact's text."""
    return {
        "classifier.json": dumps(train_classifier((text, label) for text, label, _ in reviews)),
        "regressor.json": dumps(train_regressor(((text, score) for text, _, score in reviews), ALPHA)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "reviews.jsonl")
    parser.add_argument("--out", type=Path, default=HERE / "model", help="folder for classifier.json, regressor.json")
    parser.add_argument("--mirror", type=Path, default=MIRROR, help="the local mirror of the buckets")
    parser.add_argument("--no-mirror", action="store_true", help="write only to --out")
    args = parser.parse_args(argv)
    try:
        reviews = read_reviews(args.data)
        texts = artifacts(reviews)
    except OSError as exc:
        raise SystemExit(f"{args.data}: cannot read the training data ({exc.strerror})") from None
    except ModelError as exc:
        raise SystemExit(f"{args.data}: {exc}") from None
    targets = [(args.out / name, text) for name, text in texts.items()]
    if not args.no_mirror:
        targets += [(args.mirror / OBJECTS[name], text) for name, text in texts.items()]
    for path, text in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    print(f"trained on {len(reviews)} reviews")
    return 0


if __name__ == "__main__":
    sys.exit(main())
