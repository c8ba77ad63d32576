"""Databases as sources: ``procmine import postgresql://user@host/db [--table T …] -o log.parquet``.

``--list-tables`` lists the tables with the role their columns give them; without
``--table`` the import reads the case/step/document/rating tables so found, when
that needs no guess (one case key, one table per role), else it stops and lists them.

Tables (or one query) are read through SQLAlchemy, streamed in chunks of rows,
turned into text tables with row numbers, and imported like the tables of a
workbook: relationally (case/step/document/rating roles) when they are, else
each as a flat event table. ``source_file`` is the table name (``query`` for a
query), ``source_row`` the row's number in the result, 1-based.

Credentials: the password comes from the URL, ``--password-file``, or the
environment (``PROCMINE_DB_PASSWORD``; the driver's own, such as ``PGPASSWORD``
or ``~/.pgpass``, also work). It never appears in a message, the log, the
rejects or the summary: URLs are shown without it and every error text is
scrubbed of it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DependencyError, InputError, UsageError

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
CHUNK_ROWS = 50_000
# dialect → (the pip command installing the driver SQLAlchemy needs, the URL that names it)
DRIVERS = {"postgresql": ("pip install 'procmine[db]'", "postgresql+psycopg://…"),
           "mysql": ("pip install pymysql", "mysql+pymysql://…"),
           "oracle": ("pip install oracledb", "oracle+oracledb://…"),
           "dm": ("pip install dmPython sqlalchemy_dm", "dm+dmPython://…"),
           "mssql": ("pip install pyodbc", "mssql+pyodbc://…")}
DB_EXTRA = "pip install 'procmine[db]'"


def _need_sqlalchemy() -> None:
    """SQLAlchemy comes with procmine's database extra; without it, say how to install it."""
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        raise DependencyError("reading a database needs procmine's database extra (SQLAlchemy), which is not "
                              "installed", hint=f"install it: {DB_EXTRA} (it brings the PostgreSQL driver; for "
                                               "MySQL, Oracle or 达梦 add their driver, see the README, section "
                                               "Databases)") from None


def is_url(source) -> bool:
    return isinstance(source, str) and bool(_URL.match(source)) and not Path(source).exists()


def _password(url, password_file: str | Path | None) -> str | None:
    if url.password:
        return url.password
    if password_file:
        try:
            text = Path(password_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UsageError(f"cannot read the password file {password_file}: {exc.strerror}") from None
        return text[0].strip() if text else ""
    return os.environ.get("PROCMINE_DB_PASSWORD") or None


class _Scrub:
    """Removes secrets from any text shown to the user."""

    def __init__(self, *secrets: str | None) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        from urllib.parse import quote

        for s in self.secrets:
            for form in {s, quote(s, safe=""), quote(s)}:
                text = text.replace(form, "***")
        return text


def engine_for(url_text: str, password_file=None):
    """(engine, the URL as shown — without the password, scrubber)."""
    _need_sqlalchemy()
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    scrub = _Scrub(_url_password(url_text))
    try:
        url = make_url(url_text)
    except ArgumentError as exc:
        raise UsageError(scrub(f"not a database URL: {scrub(url_text)} ({exc})")) from None
    password = _password(url, password_file)
    scrub = _Scrub(password, url.password)
    # a bare postgresql:// or mysql:// URL: use the driver that is installed
    bare = "+" not in url.drivername
    for backend, module, driver in (("postgresql", "psycopg", "postgresql+psycopg"),
                                    ("mysql", "pymysql", "mysql+pymysql")):
        if bare and url.get_backend_name() == backend:
            try:
                __import__(module)
                url = url.set(drivername=driver)
            except ImportError:
                pass
    if password is not None:
        url = url.set(password=password)
    shown = url.render_as_string(hide_password=True).replace(":***@", "@")
    backend = url.get_backend_name()
    if backend == "sqlite" and url.database not in (None, "", ":memory:") and not Path(url.database).exists():
        # SQLite would create an empty file and then find no tables in it
        raise InputError(f"no database file {url.database} ({shown})",
                         hint="check the path: sqlite:///relative/file.db or sqlite:////absolute/file.db")
    try:
        engine = create_engine(url, pool_pre_ping=False)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        pip, form = DRIVERS.get(backend, (None, None))
        raise DependencyError(scrub(f"no database driver for {shown} is installed ({exc})"),
                              hint=(f"install it: {pip}" + (f" (procmine then uses it for {backend}:// URLs; "
                                                           f"or name it in the URL: {form})" if form else "")
                                    if pip else "install the SQLAlchemy driver for this database: see the "
                                                "README, section Databases")) from None
    except (ArgumentError, ValueError, TypeError) as exc:
        raise UsageError(scrub(f"not a usable database URL: {shown} ({exc})")) from None
    return engine, shown, scrub


def shown_url(url_text: str, password_file=None) -> str:
    """The URL as messages show it: without the password."""
    engine, shown, _ = engine_for(url_text, password_file)
    engine.dispose()
    return shown


def _url_password(url_text: str) -> str | None:
    m = re.match(r"^[^:]+://[^:/@]*:([^@]*)@", url_text)
    return m.group(1) if m else None


def _text_column(values: list) -> pd.Series:
    """Database values → text as a spreadsheet would show them (times ISO, numbers plain)."""
    import datetime as dt
    import decimal

    out = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, str):
            out.append(v.strip() or None)
        elif isinstance(v, dt.datetime):
            out.append(v.isoformat(sep=" "))
        elif isinstance(v, (dt.date, dt.time)):
            out.append(v.isoformat())
        elif isinstance(v, float):
            out.append(repr(int(v)) if v.is_integer() else repr(v))
        elif isinstance(v, decimal.Decimal):
            out.append(format(v.normalize(), "f") if v == v.to_integral_value() else str(v))
        elif isinstance(v, (bytes, bytearray, memoryview)):
            out.append(bytes(v).decode("utf-8", errors="replace"))
        else:
            out.append(str(v))
    return pd.Series(pd.array(out, dtype="string"))


def read_query(engine, sql, name: str, scrub, shown: str, chunk_rows: int | None = None):
    """Stream a query's rows in chunks into a text Table."""
    from sqlalchemy.exc import SQLAlchemyError

    from .relational import Table

    chunk_rows = chunk_rows or CHUNK_ROWS
    chunks: list[pd.DataFrame] = []
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(sql)
            columns = [str(c) for c in result.keys()]
            while True:
                rows = result.fetchmany(chunk_rows)
                if not rows:
                    break
                cols = list(zip(*rows))
                chunks.append(pd.DataFrame({c: _text_column(list(v)) for c, v in zip(columns, cols)}))
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise InputError(scrub(f"cannot read {name} from {shown}: {detail[0] if detail else type(exc).__name__}"),
                         hint=scrub("\n".join(detail[1:3])) or None) from None
    except Exception as exc:  # the driver's own errors (connection dropped mid-stream …)
        raise InputError(scrub(f"cannot read {name} from {shown}: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}")) from None
    frame = (pd.concat(chunks, ignore_index=True) if chunks
             else pd.DataFrame({c: pd.Series([], dtype="string") for c in columns}))
    blank = frame.isna().all(axis=1).to_numpy() if len(frame.columns) else np.zeros(len(frame), bool)
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    if blank.any():
        frame, rows = frame.loc[~blank].reset_index(drop=True), rows[~blank]
    return Table(name, "", frame, rows, kind="database")


@dataclass(frozen=True)
class TableInfo:
    """A table (or view) of a database, and the role its columns give it."""

    name: str
    columns: tuple[str, ...]
    role: str | None = None  # case | step | document | rating | None (no role recognised)
    key: str | None = None  # the case-key column

    def to_dict(self) -> dict:
        return {"table": self.name, "role": self.role, "key": self.key, "columns": list(self.columns)}


def _connect_error(exc, shown: str, scrub) -> InputError:
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return InputError(scrub(f"cannot connect to {shown}: {detail[0] if detail else type(exc).__name__}"),
                          hint="check host, port, database, user and password (URL, --password-file or "
                               "PROCMINE_DB_PASSWORD)")
    return InputError(scrub(f"cannot connect to {shown}: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}"))


def list_tables(url_text: str, mapping=None, *, password_file=None, schema: str | None = None) -> list[TableInfo]:
    """The tables and views of a database (its default schema, or ``schema``), each
    with the role its columns give it (case, step, document or rating table, as the
    relational reader of workbooks decides from column names: no row is read)."""
    _need_sqlalchemy()
    from sqlalchemy import inspect

    from .mapping import load_mapping
    from . import relational

    engine, shown, scrub = engine_for(url_text, password_file)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            names = list(insp.get_table_names(schema=schema))
            try:  # views too (an export view is common), where the dialect lists them
                names += [v for v in insp.get_view_names(schema=schema) if v not in names]
            except NotImplementedError:
                pass
            try:  # one query for every table's columns (SQLAlchemy 2), not one per table
                from sqlalchemy.engine import ObjectKind

                multi = insp.get_multi_columns(schema=schema, kind=ObjectKind.ANY)
                columns = {name: tuple(str(c["name"]) for c in cols) for (_, name), cols in multi.items()}
            except (ImportError, AttributeError, NotImplementedError):
                columns = {}
            columns.update({n: tuple(str(c["name"]) for c in insp.get_columns(n, schema=schema))
                            for n in names if n not in columns})
    except Exception as exc:
        raise _connect_error(exc, shown, scrub) from None
    finally:
        engine.dispose()
    base = load_mapping(relational.flat_mapping(mapping))
    vocab = relational.load_vocabulary(mapping, base)
    out = []
    for name in sorted(names):
        empty = relational.Table(name, "", pd.DataFrame(columns=list(columns[name])), np.zeros(0, np.int64),
                                 kind="database")
        role = relational.classify(empty, vocab)
        out.append(TableInfo(name, columns[name], role.role if role else None, role.key if role else None))
    return out


def choose_tables(infos: list[TableInfo], mapping=None, *, shown: str = "the database") -> list[str]:
    """The tables an import without --table reads: the case/step/document/rating
    tables of one case key, or a lone event table. Anything that would need a guess
    (two case keys, two tables for one role, no table with a role) stops with the
    tables listed and what to pass."""
    from ..errors import MappingError
    from ..log.parsing import normalize_header

    found = [i for i in infos if i.role]
    listing = "\n".join(f"  {i.name}: {i.role or 'no role'}" + (f" (key {i.key})" if i.key else "")
                        for i in infos[:60]) + (f"\n  … {len(infos)} tables in all" if len(infos) > 60 else "")
    choose = "name the tables to read with --table NAME (repeat it for case/step/document/rating tables)"
    if not found:
        raise MappingError(f"no table in {shown} looks like a case, step, document or rating table",
                           hint=(f"tables there:\n{listing}\n" if infos else "the database has no tables\n") +
                                f"{choose}, read rows with --query SQL, or name the columns in a mapping file")
    keys = dict.fromkeys(normalize_header(i.key) for i in found)
    if len(keys) > 1:
        raise MappingError(f"the tables of {shown} are keyed by {len(keys)} different case ids "
                           f"({', '.join(sorted({i.key for i in found}))}): which belong together is not clear",
                           hint=f"tables there:\n{listing}\n{choose}")
    for role in ("step", "document", "rating"):
        same = [i.name for i in found if i.role == role]
        if len(same) > 1:
            raise MappingError(f"{len(same)} tables of {shown} could be the {role} table: {', '.join(same)}",
                               hint=f"tables there:\n{listing}\n{choose}")
    # several case tables are one system's when their columns differ (前置库: APASINFO, ACCEPT, TRANSACT …)
    shapes = [tuple(sorted(map(normalize_header, i.columns))) for i in found if i.role == "case"]
    if len(set(shapes)) < len(shapes):
        same = [i.name for i in found if i.role == "case"]
        raise MappingError(f"{len(same)} tables of {shown} look like the same case table: {', '.join(same)}",
                           hint=f"tables there:\n{listing}\n{choose}")
    return [i.name for i in found]


def read_tables(url_text: str, tables=(), query: str | None = None, *, password_file=None,
                chunk_rows: int | None = None):
    """Text tables of a database: the named tables, or the rows of one query."""
    _need_sqlalchemy()
    from sqlalchemy import MetaData, Table as SaTable, select, text

    if not tables and not query:
        raise UsageError("a database source needs --table NAME (one or more) or --query SQL")
    engine, shown, scrub = engine_for(url_text, password_file)
    out = []
    try:
        if query:
            out.append(read_query(engine, text(query), "query", scrub, shown, chunk_rows))
        for name in tables:
            schema, _, bare = name.rpartition(".")
            try:
                meta = MetaData(schema=schema or None)
                with engine.connect() as conn:
                    table = _reflect(conn, meta, bare, SaTable, name, shown)
            except InputError:
                raise
            except Exception as exc:
                raise _connect_error(exc, shown, scrub) from None
            order = list(table.primary_key.columns) or []
            sql = select(table).order_by(*order) if order else select(table)
            out.append(read_query(engine, sql, name, scrub, shown, chunk_rows))
    finally:
        engine.dispose()
    return out


def _reflect(conn, meta, name: str, SaTable, asked: str, shown: str):
    """Reflect a table, matching its name case-insensitively (PRE_NODE vs pre_node);
    a table that is not there is an error listing those that are."""
    from sqlalchemy import inspect

    names = inspect(conn).get_table_names(schema=meta.schema)
    exact = [n for n in names if n == name] or [n for n in names if n.lower() == name.lower()]
    if not exact:
        where = f" (schema {meta.schema})" if meta.schema else ""
        listed = ", ".join(sorted(names)[:60]) + (f" … ({len(names)} in all)" if len(names) > 60 else "")
        raise InputError(f"no table {asked!r} in {shown}{where}",
                         hint=(f"tables there: {listed}" if names else "the database has no tables there") +
                              "\nname one with --table NAME (schema.NAME for another schema)")
    return SaTable(exact[0], meta, autoload_with=conn)


def read_database(sources, mapping=None, *, duplicates: str = "auto", service: str | None = None,
                  tables=(), query: str | None = None, password_file=None, chunk_rows: int | None = None):
    """Import database tables: relational when they are, else each a flat event table."""
    from .convert import convert_table
    from .mapping import Mapping, load_mapping, map_columns
    from .readers import RawSheet
    from . import relational

    urls = [s for s in sources if is_url(s)]
    if len(urls) != 1 or len(urls) != len(list(sources)):
        raise UsageError("give one database URL (and no files) per import")
    if not tables and not query:  # the tables whose columns give them a role, if that needs no guess
        tables = choose_tables(list_tables(urls[0], mapping, password_file=password_file), mapping,
                               shown=shown_url(urls[0], password_file))
    raw = read_tables(urls[0], tables, query, password_file=password_file, chunk_rows=chunk_rows)
    base = load_mapping(relational.flat_mapping(mapping))
    if service:
        base = Mapping(**{**base.__dict__, "service": service})
    vocab = relational.load_vocabulary(mapping, base)
    roles = [relational.classify(t, vocab) for t in raw]
    if relational.looks_relational([r for r in roles if r], vocab):
        return relational.import_tables(raw, vocab, duplicates=duplicates, service=service, base=base)
    sheets = []
    for t in raw:
        sm = map_columns(list(t.frame.columns), base, where=f"{t.file}: ")
        sheets.append(RawSheet(t.file, "", t.frame, t.rows, base, kind="csv", sheet_mapping=sm))
    return relational.finish([convert_table(s) for s in sheets], duplicates)
