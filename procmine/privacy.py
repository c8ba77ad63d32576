"""Personal data in outputs: resident ID numbers and mobile numbers are detected by
content (not only by column name) and replaced with stable pseudonyms.

The canonical log keeps what the user imported; reports, findings and rendered
tables go through a :class:`Masker` unless ``--no-mask`` is given.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID18 = re.compile(r"(?<![0-9])([1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx])(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(1[3-9]\d{9})(?![0-9])")


def is_resident_id(text: str) -> bool:
    """An 18-digit 居民身份证号 with a valid GB 11643 check digit."""
    if len(text) != 18 or not text[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(text[:17], _WEIGHTS))
    return _CHECK[total % 11] == text[17].upper()


@dataclass
class Masker:
    """Replaces ID and mobile numbers with pseudonyms (the same input → the same pseudonym)."""

    enabled: bool = True
    key: bytes = b"procmine"
    _cache: dict = field(default_factory=dict)

    def _pseudonym(self, value: str, kind: str) -> str:
        digest = hmac.new(self.key, value.upper().encode(), hashlib.sha256).hexdigest()[:8].upper()
        return f"{kind}-{digest}"

    def pseudonym(self, value: str, kind: str) -> str:
        """A value that identifies a person (an applicant name or key) as a stable pseudonym."""
        if not self.enabled or value is None or value != value:
            return value
        return self._pseudonym(str(value), kind)

    def text(self, value: str) -> str:
        if not self.enabled or not value:
            return value
        value = _ID18.sub(lambda m: self._pseudonym(m.group(1), "身份证") if is_resident_id(m.group(1)) else m.group(1),
                          value)
        return _MOBILE.sub(lambda m: self._pseudonym(m.group(1), "手机"), value)

    def ids(self, values: list[str]) -> list[str]:
        if not self.enabled:
            return list(values)
        out = []
        for v in values:
            if v not in self._cache:
                self._cache[v] = self.text(str(v))
            out.append(self._cache[v])
        return out
