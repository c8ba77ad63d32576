"""One message catalogue for every sentence a report or finding shows.

Entries live in ``templates/messages/*.yaml`` as ``key: {zh: "…{name}…", en: "…"}``
(``str.format`` placeholders). All files are merged; a key defined twice is an
error, so each sentence has one home.

>>> say("lang.name", "en")
'English'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


from .errors import UsageError
from .config import load_yaml, templates_dir

LANGS = ("zh", "en")


@dataclass(frozen=True)
class Catalogue:
    entries: dict[str, dict[str, str]]

    def say(self, key: str, lang: str = "zh", **params) -> str:
        if lang not in LANGS:
            raise UsageError(f"unknown report language {lang!r}", hint="use --lang zh or --lang en")
        try:
            template = self.entries[key][lang]
        except KeyError:
            raise KeyError(f"message {key!r} has no {lang!r} text in templates/messages/") from None
        return template.format(**params) if params else template


def load_catalogue(folder: Path | None = None) -> Catalogue:
    folder = folder or templates_dir() / "messages"
    entries: dict[str, dict[str, str]] = {}
    origin: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
        for key, texts in data.items():
            if key in entries:
                raise ValueError(f"message {key!r} is defined in both {origin[key]} and {path.name}")
            entries[str(key)] = {str(k): str(v) for k, v in (texts or {}).items()}
            origin[key] = path.name
    return Catalogue(entries)


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The shipped catalogue (templates/messages/), loaded once."""
    return load_catalogue()


def say(key: str, lang: str = "zh", **params) -> str:
    """The text of ``key`` in ``lang`` with ``params`` filled in."""
    return default_catalogue().say(key, lang, **params)


class Note(str):
    """A note: the English text (what the CLI prints) that also knows its catalogue
    message, so a report or the workbench can say it in its own language (:func:`localized`)."""

    message: str
    params: dict

    def __new__(cls, message: str, **params) -> "Note":
        obj = super().__new__(cls, say(message, "en", **params))
        obj.message, obj.params = message, params
        return obj

    def to_dict(self) -> dict:
        return {"message": self.message, "params": self.params, "text": str(self)}

    def __reduce__(self):  # pickled and copied as its message and params (a str's way would lose them)
        return (_note, (self.message, self.params))


def _note(message: str, params: dict) -> Note:
    return Note(message, **params)


def localized(notes, lang: str = "zh") -> list[str]:
    """Notes in ``lang``: a note that knows its catalogue message (``.message``/``.params``,
    as the case model's notes do) is said in that language; any other is kept as written."""
    out = []
    cat = default_catalogue()
    for n in notes:
        key = getattr(n, "message", None)
        try:
            out.append(cat.say(key, lang, **(getattr(n, "params", None) or {})) if key else str(n))
        except KeyError:
            out.append(str(n))
    return out

