"""Declarative base, naming convention and the column types every model shares."""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.functions import FunctionElement

# Named constraints let Alembic's SQLite batch mode find and alter them later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# utf8mb4 so that emoji survive on MySQL/MariaDB; other dialects ignore these.
MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator):
    """Stores naive UTC (microseconds on MySQL too) and hands back aware UTC datetimes."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def binary_string(length: int) -> sa.types.TypeEngine:
    """A VARCHAR compared byte for byte on MySQL, where the table collation is case-insensitive."""
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


# The largest id any supported database stores; SQLite cannot even bind a larger integer.
MAX_ID = 2**63 - 1

# Integer on SQLite, where only INTEGER PRIMARY KEY autoincrements; 64-bit elsewhere.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    """Base class of every model."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class casefolded(FunctionElement):  # noqa: N801 (reads like the SQL function it renders)
    """A text expression folded for case-insensitive comparison and sorting.

    MySQL/MariaDB: lower() (their _ci collations fold every script anyway). SQLite: the
    casefold() function app/__init__.py registers on each connection, because SQLite's own
    lower() only folds A-Z.
    """

    type = sa.String()
    inherit_cache = True


@compiles(casefolded)
def _compile_casefolded(element: casefolded, compiler: sa.sql.compiler.SQLCompiler, **kw: object) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(casefolded, "sqlite")
def _compile_casefolded_sqlite(
    element: casefolded, compiler: sa.sql.compiler.SQLCompiler, **kw: object
) -> str:
    return f"casefold({compiler.process(element.clauses, **kw)})"


def sqlite_casefold(value: str | None) -> str | None:
    """The casefold() SQL function on SQLite connections."""
    return value.casefold() if isinstance(value, str) else value
