"""The page: plain HTML from the standard library, every value escaped where it is placed (text
and attributes with `html.escape`, links with `urlencode`), the colours allowed into the style
sheet only after config.py checked them. A Content-Security-Policy that allows no script at all
and only this style sheet (by its hash) backs that up."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from dataclasses import dataclass
from html import escape

from nlp_document_classifier.config import AppConfig, Look
from nlp_document_classifier.examples import Example
from nlp_document_classifier.models import Classification, Sentiment

# A GET form: the text travels in the URL, which servers cap at a few KiB. Longer articles: POST /predict.
MAX_PAGE_TEXT_CHARS = 4_000
EXCERPT_CHARS = 160

CSS = """
:root { --colour1: %(colour1)s; --colour2: %(colour2)s; }
body { margin: 0; font-family: system-ui, sans-serif; color: #1f2933; background: #fff; }
header { display: flex; gap: 1rem; align-items: center; padding: 1rem 2rem; background: var(--colour1); color: #fff; }
header img { height: 2.5rem; }
header h1 { margin: 0; font-size: 1.5rem; }
main { max-width: 52rem; margin: auto; padding: 1rem 2rem 3rem; }
textarea { box-sizing: border-box; width: 100%%; font: inherit; padding: .5rem; }
button { margin-top: .5rem; padding: .5rem 1.5rem; border: 0; font: inherit; color: #fff; background: var(--colour2); }
.result { margin: 1.5rem 0; padding: .5rem 1rem; border-left: .4rem solid var(--colour2); background: #f5f7fa; }
.error { margin: 1.5rem 0; padding: .5rem 1rem; border-left: .4rem solid #b91c1c; background: #fef2f2; }
td { padding: .1rem 1rem .1rem 0; }
.label { color: var(--colour1); font-weight: 600; }
"""


@dataclass(frozen=True)
class Result:
    classification: Classification
    sentiment: Sentiment | None = None


@dataclass(frozen=True)
class Page:
    """What every rendering shares: built once at start from the two configs."""

    config: AppConfig
    look: Look
    examples: tuple[Example, ...]

    @property
    def title(self) -> str:
        return f"{self.config.app_title} {self.look.title_extension}".strip()

    @property
    def style(self) -> str:
        return CSS % {"colour1": self.look.colour1, "colour2": self.look.colour2}

    @property
    def security_policy(self) -> str:
        """No script, no plugin, no framing; this page's own style sheet; images from this app (and
        the logo's host when the logo is an https URL); the form posts back here only."""
        digest = base64.b64encode(hashlib.sha256(self.style.encode()).digest()).decode()
        images = ["'self'"]
        logo = urllib.parse.urlsplit(self.config.logo_image_url)
        if logo.scheme == "https":
            images.append(f"https://{logo.netloc}")
        return (
            f"default-src 'none'; style-src 'sha256-{digest}'; img-src {' '.join(images)}; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )

    def render(self, text: str = "", result: Result | None = None, error: str | None = None) -> str:
        logo = self.config.logo_image_url
        # Relative links (the logo, the form, the examples) resolve under the route's prefix
        # (/api/v1/projects/<p>/environments/<e>/apps/<name>/) as well as on a laptop.
        logo_html = f'<img src="{escape(logo)}" alt="">' if logo else ""
        parts = [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(self.title)}</title><style>{self.style}</style></head><body>",
            f"<header>{logo_html}<h1>{escape(self.title)}</h1></header><main>",
            '<form method="get" action="."><label for="text">Paste a news article</label>',
            f'<textarea id="text" name="text" rows="8" maxlength="{MAX_PAGE_TEXT_CHARS}" required>{escape(text)}'
            "</textarea>",
            '<button type="submit">Classify</button></form>',
        ]
        if error:
            parts.append(f'<p class="error" role="alert">{escape(error)}</p>')
        if result:
            parts.append(self._result(result))
        parts.append(self._examples())
        parts.append("</main></body></html>")
        return "\n".join(parts) + "\n"

    def _result(self, result: Result) -> str:
        target = escape(self.config.target)
        category = result.classification.category
        said = escape(category) if category else "none likely enough"
        rows = "".join(
            f"<tr><td>{escape(name)}</td><td>{probability:.0%}</td></tr>"
            for name, probability in sorted(result.classification.probabilities.items(), key=lambda item: -item[1])
        )
        lines = [f'<section class="result" aria-live="polite"><h2>{target}: <strong>{said}</strong></h2>']
        sentiment = result.sentiment
        if sentiment is not None and sentiment.label is not None:
            share = (sentiment.probabilities or {}).get(sentiment.label)
            sure = f" ({share:.0%})" if share is not None else ""
            lines.append(f"<p>Sentiment: <strong>{escape(sentiment.label)}</strong>{sure}</p>")
        elif sentiment is not None:
            lines.append(f"<p>Sentiment score: <strong>{sentiment.value:.2f}</strong></p>")
        lines.append(f"<table><caption>How likely each {target} is</caption>{rows}</table></section>")
        return "\n".join(lines)

    def _examples(self) -> str:
        if not self.examples:
            return ""
        items = []
        for example in self.examples:
            link = "?" + urllib.parse.urlencode({"text": example.text[:MAX_PAGE_TEXT_CHARS]})
            excerpt = example.text if len(example.text) <= EXCERPT_CHARS else example.text[:EXCERPT_CHARS] + "…"
            label = f'<span class="label">{escape(example.label)}</span>'
            items.append(f'<li><a href="{escape(link)}">{escape(excerpt)}</a> {label}</li>')
        return "<section><h2>Try an example</h2><ul>\n" + "\n".join(items) + "\n</ul></section>"
