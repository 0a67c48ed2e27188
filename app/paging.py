"""Lists a page at a time: the page's number and size as a GET form reads them, one count and
one page of rows per list, and the links that keep the list's other query arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlmodel import Session
from wtforms import IntegerField, SelectChoice, SelectField
from wtforms.validators import NumberRange, Optional

T = TypeVar("T")
SIZES = (10, 25, 50, 100)
DEFAULT_SIZE = 25
# The largest page number a link can carry (beyond it a page would be empty anyway).
MAX_PAGE = 100_000


class PagingFields:
    """The page number and size of a list's GET form (mixed into its filter form)."""

    page = IntegerField(_l("Page"), validators=[Optional(), NumberRange(min=1, max=MAX_PAGE)])
    per_page = SelectField(
        _l("Per page"),
        choices=[SelectChoice(str(n), str(n)) for n in SIZES],
        default=str(DEFAULT_SIZE),
        validators=[Optional()],
    )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its rows, where it is, and how many rows the whole list has."""

    items: Sequence[T]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None

    @property
    def first_row(self) -> int:
        return 0 if self.total == 0 else (self.number - 1) * self.size + 1

    @property
    def last_row(self) -> int:
        return min(self.total, self.number * self.size)

    def window(self, around: int = 2) -> list[int]:
        """The page numbers to link: the first, the last, and those near this one."""
        near = range(max(1, self.number - around), min(self.pages, self.number + around) + 1)
        return sorted({1, self.pages, *near})


def size_of(raw: Any) -> int:
    """The page size a form's ``per_page`` field holds (the default when it holds none)."""
    try:
        size = int(raw)
    except (TypeError, ValueError):
        return DEFAULT_SIZE
    return size if size in SIZES else DEFAULT_SIZE


def paginate(db: Session, query: Select[Any], number: int | None, size: int) -> Page[Any]:
    """Page ``number`` (from 1) of ``query``'s rows: one count, one page."""
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    number = max(1, number or 1)
    rows = db.scalars(query.limit(size).offset((number - 1) * size)).all()
    return Page(rows, number, size, int(total))


def page_of(items: Sequence[T], number: int | None, size: int) -> Page[T]:
    """Page ``number`` of a list that is already in memory."""
    number = max(1, number or 1)
    start = (number - 1) * size
    return Page(items[start : start + size], number, size, len(items))


def kept_args(args: Mapping[str, Any], *dropped: str) -> dict[str, Any]:
    """The list's query arguments for its links, without empty ones and without ``dropped``."""
    return {k: v for k, v in args.items() if v not in ("", None) and k not in dropped}
