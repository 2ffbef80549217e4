"""The example articles the page offers: data/<data_file_name>, a CSV with a `text` column and the
app config's `target` column (the article's known category). Read once at start; a missing or
malformed file stops the app with one line."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass

from nlp_document_classifier.config import APP_CONFIG_HINT, APP_DIR, AppConfig, ConfigError

DATA_DIR = APP_DIR / "data"
# The page shows a few; the file is small by design (it ships in the image).
SHOWN = 6
MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class Example:
    text: str
    label: str


def load_examples(config: AppConfig) -> tuple[Example, ...]:
    path = DATA_DIR / config.data_file_name

    def bad(problem: str) -> ConfigError:
        return ConfigError(f"{config.source}: data_file_name {config.data_file_name!r}: {problem}: {APP_CONFIG_HINT}")

    if not path.is_file():
        present = ", ".join(sorted(p.name for p in DATA_DIR.glob("*.csv"))) or "none"
        raise bad(f"no such file in data/ (present: {present})")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise bad("the file is over 1 MiB: ship a small sample")
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise bad(f"not a UTF-8 CSV file ({exc})") from None
    columns = set(rows[0]) if rows else set()
    missing = [column for column in ("text", config.target) if column not in columns]
    if missing:
        raise bad(f"has no {missing[0]!r} column (the file needs text and the target column, {config.target!r})")
    # A few of each category, in the file's order, taken in turn: the page shows every category it can.
    by_label: dict[str, list[Example]] = {}
    for row in rows:
        example = Example(text=(row["text"] or "").strip(), label=(row[config.target] or "").strip())
        if example.text:
            by_label.setdefault(example.label, []).append(example)
    in_turn = [example for group in itertools.zip_longest(*by_label.values()) for example in group if example]
    return tuple(in_turn[:SHOWN])
