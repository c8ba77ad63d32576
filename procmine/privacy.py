"""Personal data in outputs, decided here and nowhere else.

What is masked (replaced by a pseudonym) in every file a command writes:

- resident ID numbers (18 digits with a valid GB 11643 check digit) and mobile
  numbers, detected by content wherever they appear;
- every value of an applicant-type column (the canonical ``applicant`` and
  ``applicant_id``, and attribute columns such as 申请人, 企业名称, 联系电话,
  证件号码, 统一社会信用代码 — see :func:`is_applicant_column`), and any exact
  occurrence of such a value inside other text of the output.

The canonical log written by ``procmine import`` keeps what the user imported
(it is the user's own data in canonical form, needed to link cases).

Pseudonyms are ``KIND-XXXXXXXXXXXXXXXX``: an HMAC-SHA256 of the value under a
secret key, 80 bits in base32. The same key gives the same pseudonym, so reports
of two periods stay comparable; without the key they cannot be reversed, not
even by trying every mobile number. The key comes from ``PROCMINE_MASK_KEY``
(shared set-ups) or from a key file created on first use with 32 random bytes
and permissions 0600 (``PROCMINE_MASK_KEY_FILE``, default
``~/.config/procmine/mask.key``). See SECURITY.md.

Writers use one entry point: :meth:`Masker.frame` for tables,
:meth:`Masker.text` for strings, :meth:`Masker.data` for anything nested
(JSON-like data, result objects), :meth:`Masker.json` for JSON text.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .errors import ConfigError
from .log.parsing import normalize_header

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID18 = r"(?<![0-9])(?P<id>[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx])(?![0-9])"
_MOBILE = r"(?<![0-9])(?P<mobile>1[3-9]\d{9})(?![0-9])"
_DIGITS = re.compile(r"\d{11}")  # cheap pre-check: nothing to do without 11 digits in a row

KEY_ENV = "PROCMINE_MASK_KEY"
KEY_FILE_ENV = "PROCMINE_MASK_KEY_FILE"
MIN_KEY_CHARS = 16
MIN_NAME_CHARS = 2  # shorter applicant values are masked in their column but not searched for in free text
MIN_ASCII_CHARS = 6
_PLACEHOLDERS = {"无", "null", "none", "nan", "n/a", "na", "-", "--", "/", "暂无", "空", "不详", "未知"}

# Applicant-type columns, by normalised header (parsing.normalize_header).
APPLICANT_HEADERS = frozenset({
    "applicant", "applicant_id", "applicant_name", "applicant_phone",
    "申请人", "申请人姓名", "申请人名称", "申请单位", "申请企业", "申报单位", "申报人", "申报企业",
    "企业名称", "单位名称", "公司名称", "委托人", "代理人", "代办人", "法定代表人", "法人代表", "法人",
    "联系人", "联系电话", "联系方式", "手机", "手机号", "手机号码", "电话", "姓名", "证件号", "证件号码",
    "身份证", "身份证号", "身份证号码", "统一社会信用代码", "社会信用代码", "信用代码", "组织机构代码",
    "建设单位", "施工单位", "经营者", "当事人", "办事人",
})
_PARTY = r"(申请|申报|委托|代理|代办|法定代表|法人代表|法人|联系|办事|当事|经营者|建设单位|施工单位|企业|单位|公司)"
_ROLE = r"(人|方|者|单位|企业)?"
_FIELD = (r"(姓名|名称|全称|电话|手机|手机号|手机号码|联系电话|联系方式|证件号|证件号码|身份证|身份证号|身份证号码|"
          r"统一社会信用代码|社会信用代码|信用代码|代码|地址|住址|住所|邮箱|电子邮箱)?")
_APPLICANT_RX = re.compile(f"^{_PARTY}{_ROLE}{_FIELD}$")
_BARE = {"申请", "申报", "委托", "代理", "代办", "联系", "办事", "当事", "企业", "单位", "公司"}


def is_resident_id(text: str) -> bool:
    """An 18-digit 居民身份证号 with a valid GB 11643 check digit."""
    if len(text) != 18 or not text[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(text[:17], _WEIGHTS))
    return _CHECK[total % 11] == text[17].upper()


def is_applicant_column(name: object) -> bool:
    """Whether a column holds the applicant's own data (name, ID, phone, code, address)."""
    norm = normalize_header(name)
    if norm in APPLICANT_HEADERS:
        return True
    return norm not in _BARE and bool(_APPLICANT_RX.match(norm))


def _column_kind(name: object) -> str:
    norm = normalize_header(name)
    if any(k in norm for k in ("电话", "手机", "联系方式", "phone")):
        return "电话"
    if any(k in norm for k in ("证件", "身份证", "代码", "_id")):
        return "证件"
    return "申请人"


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "procmine" / "mask.key"


def load_key(environ: Mapping[str, str] | None = None) -> bytes:
    """The secret pseudonym key: ``$PROCMINE_MASK_KEY``, else the key file
    (``$PROCMINE_MASK_KEY_FILE`` or ``~/.config/procmine/mask.key``), created
    with 32 random bytes (as hex text) and permissions 0600 if it does not exist."""
    environ = os.environ if environ is None else environ
    text = environ.get(KEY_ENV)
    if text:
        if len(text.strip()) < MIN_KEY_CHARS:
            raise ConfigError(f"{KEY_ENV} is too short (at least {MIN_KEY_CHARS} characters)",
                              hint="make one with: python -c 'import secrets; print(secrets.token_hex(32))'")
        return text.strip().encode("utf-8")
    path = Path(environ.get(KEY_FILE_ENV) or default_key_file()).expanduser()
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        return _read_key(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the masking key file {path}: {exc.strerror}",
                          hint=f"set {KEY_FILE_ENV} to a writable path, or {KEY_ENV} to a secret") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the masking key file {path}: {getattr(exc, 'strerror', None) or exc}",
                          hint=f"set {KEY_FILE_ENV} to another path, or {KEY_ENV} to a secret") from None
    if len(text) < MIN_KEY_CHARS:
        raise ConfigError(f"the masking key file {path} is damaged (shorter than {MIN_KEY_CHARS} characters)",
                          hint="restore it from a backup to keep pseudonyms comparable, or delete it for a new key")
    return text.encode("utf-8")


@dataclass
class Masker:
    """Replaces personal data with pseudonyms (the same value and key → the same pseudonym).

    ``key``: the secret; ``None`` reads :func:`load_key` on first use (never
    when ``enabled`` is false). :meth:`learn` adds the applicant values of a log,
    so that they are also found inside free text.
    """

    enabled: bool = True
    key: bytes | None = None
    _known: dict = field(default_factory=dict, repr=False)  # applicant value → kind
    _cache: dict = field(default_factory=dict, repr=False)
    _rx: Any = field(default=None, repr=False)

    # -- set-up -------------------------------------------------------------
    def learn(self, log: pd.DataFrame | None) -> "Masker":
        """Remember the values of ``log``'s applicant-type columns (returns self)."""
        if not self.enabled or log is None:
            return self
        added = False
        for col in log.columns:
            if not is_applicant_column(col):
                continue
            kind = _column_kind(col)
            for v in pd.unique(_as_text(log[col]).dropna()):
                v = v.strip()
                if _searchable(v) and v not in self._known:
                    self._known[v] = kind
                    added = True
        if added:
            self._rx = None
            self._cache.clear()
        return self

    @classmethod
    def for_log(cls, log: pd.DataFrame | None, enabled: bool = True, key: bytes | None = None) -> "Masker":
        return cls(enabled=enabled, key=key).learn(log)

    def _key(self) -> bytes:
        if self.key is None:
            self.key = load_key()
        return self.key

    def pseudonym(self, value: str, kind: str) -> str:
        norm = str(value).strip().upper().encode("utf-8")
        digest = hmac.new(self._key(), norm, hashlib.sha256).digest()[:10]
        return f"{kind}-{base64.b32encode(digest).decode('ascii')}"

    def _pattern(self) -> re.Pattern:
        if self._rx is None:
            names = _trie_pattern(sorted(self._known))
            self._rx = re.compile((f"(?P<name>{names})|" if names else "") + _ID18 + "|" + _MOBILE)
        return self._rx

    def _replace(self, m: re.Match) -> str:
        if m.lastgroup == "name":
            return self.pseudonym(m.group(0), self._known[m.group(0)])
        if m.lastgroup == "id":
            return self.pseudonym(m.group(0), "身份证") if is_resident_id(m.group(0)) else m.group(0)
        return self.pseudonym(m.group(0), "手机")

    # -- entry points -------------------------------------------------------
    def text(self, value: str) -> str:
        """A string with ID numbers, mobile numbers and known applicant values replaced."""
        if not self.enabled or not value or not isinstance(value, str):
            return value
        if not self._known and not _DIGITS.search(value):
            return value
        hit = self._cache.get(value)
        if hit is None:
            hit = self._pattern().sub(self._replace, value)
            if len(self._cache) < 1_000_000:
                self._cache[value] = hit
        return hit

    def ids(self, values: list[str]) -> list[str]:
        """Case ids (or other identifiers) as they may be shown."""
        if not self.enabled:
            return list(values)
        return [self.text(str(v)) for v in values]

    def value(self, value: Any) -> Any:
        """One scalar: text masked; an integer that reads as a mobile or ID number masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (int,)) and not isinstance(value, bool) and value >= 10**10:
            s = str(value)
            masked = self.text(s)
            return masked if masked != s else value
        return value

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """A masked copy of a table: applicant-type columns become pseudonyms
        throughout; every other text (or list of texts) is masked by content."""
        out = df.copy()
        if not self.enabled:
            return out
        for col in out.columns:
            s = out[col]
            if is_applicant_column(col):
                kind = _column_kind(col)
                out[col] = _as_text(s).map(lambda v: self.pseudonym(v.strip(), kind) if v.strip() else v,
                                           na_action="ignore")
            elif pd.api.types.is_integer_dtype(s):
                if s.notna().any() and s.max() >= 10**10:
                    out[col] = pd.Series([self.value(int(v)) if pd.notna(v) else None for v in s.tolist()],
                                         index=s.index, dtype=object)
            elif s.dtype == object or isinstance(s.dtype, (pd.StringDtype, pd.ArrowDtype)):
                if isinstance(s.dtype, pd.StringDtype) and not self._known \
                        and not s.str.contains(_DIGITS, na=False).any():
                    continue
                masked, changed = [], False
                for v in s.tolist():
                    m = self.data(v) if _notna(v) else v
                    changed = changed or (m is not v and _hashable(m) != _hashable(v))
                    masked.append(m)
                if changed:
                    out[col] = pd.Series(masked, index=s.index,
                                         dtype=s.dtype if isinstance(s.dtype, pd.StringDtype) else object)
        return out

    def data(self, obj: Any) -> Any:
        """A masked copy of nested data: str, list, tuple, dict (keys too), DataFrame,
        dataclass instances (a shallow copy with every field masked); other values as they are."""
        if not self.enabled:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.data(k) if isinstance(k, str) else k: self.data(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.data(v) for v in obj]
        if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
            return tuple(self.data(v) for v in obj)
        if isinstance(obj, pd.DataFrame):
            return self.frame(obj)
        if isinstance(obj, pd.Series):
            return self.frame(obj.to_frame()).iloc[:, 0]
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            new = copy.copy(obj)
            for f in dataclasses.fields(obj):
                object.__setattr__(new, f.name, self.data(getattr(obj, f.name)))
            return new
        if hasattr(obj, "tolist") and getattr(obj, "ndim", 0) == 1:  # numpy / arrow arrays of text
            return [self.data(v) for v in obj.tolist()]
        return self.value(obj)

    def json(self, text: str) -> str:
        """JSON text (as written by procmine: UTF-8, indent 2) with every string masked."""
        if not self.enabled:
            return text
        return json.dumps(self.data(json.loads(text)), ensure_ascii=False, indent=2) + "\n"


def _searchable(v: str) -> bool:
    """Whether an applicant value is looked for inside other text: not a placeholder,
    at least 2 characters (6 if plain ASCII, so that short codes such as 'A1'
    cannot hit markup or colour codes in a report), at most 200."""
    if v.lower() in _PLACEHOLDERS or len(v) > 200:
        return False
    return len(v) >= (MIN_ASCII_CHARS if v.isascii() else MIN_NAME_CHARS)


def _as_text(s: pd.Series) -> pd.Series:
    """Values as text; whole floats without '.0' (a phone number read as a float)."""
    if pd.api.types.is_float_dtype(s):
        return pd.Series([None if pd.isna(v) else (str(int(v)) if float(v).is_integer() else str(v)) for v in s],
                         index=s.index, dtype="string")
    return s.astype("string")


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if hasattr(v, "tolist") and not isinstance(v, str):
        return _hashable(v.tolist())
    return v


def _notna(v: Any) -> bool:
    if isinstance(v, (list, tuple)) or hasattr(v, "tolist"):
        return True
    return not pd.isna(v)


def _trie_pattern(words: list[str]) -> str:
    """One regular expression matching any of ``words`` (the longest at a
    position), built as a trie so that thousands of names stay fast."""
    if not words:
        return ""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node: dict) -> str:
        end = "" in node
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch != ""]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if end:
            return f"(?:{body})?"
        return body

    return build(trie)
