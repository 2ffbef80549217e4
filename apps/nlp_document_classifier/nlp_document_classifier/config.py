"""The web app's two configs, checked once at start: the version's app config (what the page shows
and which models it calls) and the environment's cosmetics (title extension, colours). Each
problem is one line naming the file, the key and the fix."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

APP_DIR = Path(__file__).resolve().parent.parent
COMPONENT = "nlp_document_classifier"
APP_CONFIG_HINT = f"fix the version's app_config in config/components/{COMPONENT}.yaml"
ENVIRONMENT_CONFIG_HINT = "fix mlops:environment_config in the stack file (Pulumi.<stack>.yaml)"

# A catalogue component name (config/components/<name>.yaml).
COMPONENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# A sample file in data/: a plain name, never a path out of the folder.
DATA_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\.csv$")
# A CSS colour the page may put in its style sheet: a name or #rgb[a] / #rrggbb[aa]. Nothing else,
# so that environment config can never inject CSS or close the <style> element.
COLOUR = re.compile(r"^(?:[A-Za-z]{3,30}|#[0-9A-Fa-f]{3,4}|#[0-9A-Fa-f]{6}|#[0-9A-Fa-f]{8})$")
MAX_TITLE_CHARS = 120
MAX_URL_CHARS = 2000
DEFAULT_COLOURS = ("slategray", "#ff8800")


class ConfigError(ValueError):
    """A config the app cannot start with; the message is the one line the user sees."""


@dataclass(frozen=True)
class AppConfig:
    """The version's app config (catalogue `app_config`); the defaults serve a bare local run."""

    # The models the app calls, by component name (the runtime helper finds their URLs).
    model_name: str = "document_tagging"
    sentiment_model_name: str | None = None
    show_sentiment: bool = False
    # Example articles: data/<data_file_name>, a CSV with a `text` column and the `target` one.
    data_file_name: str = "bbc_small.csv"
    target: str = "category"
    # A file under static/ (served by the app) or an https:// URL; "" for no logo.
    logo_image_url: str = "static/images/k-logo.svg"
    app_title: str = "Document classifier"
    source: str = "defaults"

    @property
    def called(self) -> tuple[str, ...]:
        """The components this version calls: the sentiment model only when it is shown."""
        if self.show_sentiment and self.sentiment_model_name:
            return (self.model_name, self.sentiment_model_name)
        return (self.model_name,)


@dataclass(frozen=True)
class Look:
    """The environment's cosmetics (the platform's `app_title_extension`, `colour1`, `colour2`)."""

    title_extension: str = ""
    colour1: str = DEFAULT_COLOURS[0]
    colour2: str = DEFAULT_COLOURS[1]


def parse_app_config(data: dict[str, Any], source: str = "app config") -> AppConfig:
    """Every key the catalogue's versions use, checked; any other key is refused (a typo would
    otherwise silently fall back to a default)."""

    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {key} {problem}: {APP_CONFIG_HINT}")

    known = sorted(field for field in AppConfig.__dataclass_fields__ if field != "source")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise bad(unknown[0], f"is not a setting of this app (known: {', '.join(known)})")
    defaults = AppConfig()
    names = {"model_name": data.get("model_name", defaults.model_name)}
    if data.get("sentiment_model_name") is not None:
        names["sentiment_model_name"] = data["sentiment_model_name"]
    for key, name in names.items():
        if not isinstance(name, str) or not COMPONENT_NAME.match(name):
            raise bad(key, f"is {name!r:.80}: name a component of the catalogue (config/components/<name>.yaml)")
    show_sentiment = data.get("show_sentiment", False)
    if not isinstance(show_sentiment, bool):
        raise bad("show_sentiment", f"is {show_sentiment!r}: use true or false")
    if show_sentiment and not data.get("sentiment_model_name"):
        raise bad("show_sentiment", "is true but sentiment_model_name is not set: name the sentiment model")
    data_file_name = data.get("data_file_name", defaults.data_file_name)
    if not isinstance(data_file_name, str) or not DATA_FILE_NAME.match(data_file_name):
        raise bad("data_file_name", f"is {data_file_name!r}: give the name of a .csv file in data/, not a path")
    target = data.get("target", defaults.target)
    if not isinstance(target, str) or not target.strip() or target == "text":
        raise bad("target", f"is {target!r}: name the column of data/{data_file_name} that holds the category")
    app_title = data.get("app_title", defaults.app_title)
    if not isinstance(app_title, str) or not app_title.strip() or len(app_title) > MAX_TITLE_CHARS:
        raise bad("app_title", f"must be text of 1 to {MAX_TITLE_CHARS} characters")
    logo = data.get("logo_image_url", defaults.logo_image_url)
    problem = _logo_problem(logo)
    if problem:
        raise bad("logo_image_url", f"is {logo!r:.80}: {problem}")
    return AppConfig(
        model_name=names["model_name"],
        sentiment_model_name=names.get("sentiment_model_name"),
        show_sentiment=show_sentiment,
        data_file_name=data_file_name,
        target=target,
        logo_image_url=logo,
        app_title=app_title,
        source=source,
    )


def _logo_problem(logo: Any) -> str | None:
    """Why `logo` cannot be the page's logo, or None: a file the app serves, or https."""
    if not isinstance(logo, str) or len(logo) > MAX_URL_CHARS:
        return f"give a string of at most {MAX_URL_CHARS} characters"
    if not logo:
        return None
    if "://" in logo:
        url = urllib.parse.urlsplit(logo)
        if url.scheme != "https" or not url.hostname or any(c in logo for c in "\"'<> \\"):
            return "give an https:// URL, or a file under static/"
        return None
    path = PurePosixPath(logo)
    if path.parts[:1] != ("static",) or ".." in path.parts or not (APP_DIR / path).is_file():
        return f"no such file under static/ in apps/{COMPONENT}/ (give static/<file> or an https:// URL)"
    return None


def parse_look(data: dict[str, Any], source: str = "environment config") -> Look:
    """The keys of the environment config this app uses; the others belong to other components."""

    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {key} {problem}: {ENVIRONMENT_CONFIG_HINT}")

    extension = data.get("app_title_extension", "")
    if not isinstance(extension, str) or len(extension) > MAX_TITLE_CHARS:
        raise bad("app_title_extension", f"must be a string of at most {MAX_TITLE_CHARS} characters")
    colours = []
    for key, default in zip(("colour1", "colour2"), DEFAULT_COLOURS, strict=True):
        colour = data.get(key, default)
        if not isinstance(colour, str) or not COLOUR.match(colour):
            raise bad(key, f"is {colour!r}: give a CSS colour name (slategray) or #rgb / #rrggbb")
        colours.append(colour)
    return Look(title_extension=extension, colour1=colours[0], colour2=colours[1])
