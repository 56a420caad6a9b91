"""The page frame every dashboard page shares: navigation, the logout form, tiles."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from interlock import __version__
from interlock.dashboard._access import PREFIX, Access
from interlock.dashboard._html import Markup, concat, fmt, render

__all__ = ["NAV", "layout", "tiles"]

# (page id, label, path)
NAV: Final = (
    ("board", "Providers", PREFIX),
    ("requests", "Requests", f"{PREFIX}/requests"),
    ("usage", "Spend & usage", f"{PREFIX}/usage"),
    ("keys", "Keys", f"{PREFIX}/keys"),
)


def layout(title: str, page: str, body: Markup, access: Access, *, footer: str = "") -> Markup:
    """A complete dashboard page around ``body``."""
    nav = concat(
        fmt('<a href="{}"{}>{}</a>', path, Markup(' aria-current="page"') if key == page else Markup(""), label)
        for key, label, path in NAV
    )
    if access.session is not None:
        session = fmt(
            '<form method="post" action="{}/logout"><input type="hidden" name="csrf" value="{}">'
            '<button type="submit" class="link">Log out</button></form>',
            PREFIX,
            access.csrf,
        )
    else:
        session = fmt('<span class="muted">{}</span>', "admin key (header)")
    return render(
        "layout.html",
        title=title,
        page=page,
        prefix=PREFIX,
        nav=nav,
        session=session,
        body=body,
        version=__version__,
        footer=footer or "self-hosted LLM routing gateway",
    )


def tiles(items: Iterable[tuple[str, str, str]]) -> Markup:
    """Summary tiles: (id, label, value); the id lets the page's script update the value."""
    return concat(
        fmt('<div class="tile"><div class="value" id="tile-{}">{}</div><div class="label">{}</div></div>', i, v, label)
        for i, label, v in items
    )
