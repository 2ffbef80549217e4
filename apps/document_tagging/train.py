"""Train the document tagger from `data/articles.jsonl` and write `model/model.json`.

Standard library only and deterministic: run it again on the same articles and the file does not
change (a test checks the shipped model is exactly what this script writes).

    python apps/document_tagging/train.py [--data FILE] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from document_tagging.model import ModelError, dumps, train  # noqa: E402 (the package sits next to this script)

TARGET = "category"


def read_examples(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs, one JSON object per line with `text` and the target label."""
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            examples.append((str(row["text"]), str(row[TARGET])))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SystemExit(
                f"{path}:{number}: each line must be a JSON object with 'text' and '{TARGET}' ({exc})"
            ) from None
    return examples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "articles.jsonl")
    parser.add_argument("--out", type=Path, default=HERE / "model" / "model.json")
    args = parser.parse_args(argv)
    try:
        artifact = train(read_examples(args.data), TARGET)
    except OSError as exc:
        raise SystemExit(f"{args.data}: cannot read the training data ({exc.strerror})") from None
    except ModelError as exc:
        raise SystemExit(f"{args.data}: {exc}") from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dumps(artifact), encoding="utf-8")
    print(f"wrote {args.out}: {len(artifact['classes'])} classes from {sum(artifact['documents'].values())} articles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
