"""A desktop browser window around a picture (tabs, toolbar, bookmarks, the page and its
text, scrollbar, status bubble, taskbar): :class:`BrowserChrome`, drawn by ``draw(rng)``
and rendered around any picture by :func:`browser_screenshot`, so two pictures can share
one chrome (:mod:`testkit.overlay_impostors`), as in :mod:`testkit.phone_chrome`."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from testkit.compositing import (
    canvas,
    fit,
    paste,
)
from testkit.drawing import (
    RGB,
    TLDS,
    WORDS,
    Encoding,
    Font,
    bold,
    chance,
    circle,
    colour,
    fill_polygon,
    outline_polygon,
    pick,
    put_text,
    rectangle,
    rounded_rectangle,
    rounded_rectangle_points,
    text_width,
    uniform,
    words,
)
from testkit.edits import Pixels


@dataclass(frozen=True)
class BrowserChrome:
    """A desktop browser window screenshotted with a web page showing the picture:
    tab strip (dark or light) with tab titles, toolbar with the address bar and URL,
    optional bookmarks bar, the page (light or dark margins around a content column,
    optional site header, title and body text around the picture), optional
    scrollbar, hover status bubble and OS taskbar. The window is 1280-1920 x 800-1080
    pixels; the picture is ``share`` (0.4-0.9) of the content width, less if it
    would not fit the height, placed at ``place`` (shares of the free space)."""

    width: int
    height: int
    ui: float
    dark_chrome: bool
    mac: bool
    tabs: int
    active: int
    title: str
    url: str
    bookmarks: bool
    page: RGB
    column: RGB
    column_share: float
    dark_page: bool
    site_header: RGB | None
    page_text: bool
    share: float
    place: tuple[float, float]
    scrollbar: float | None
    status: bool
    taskbar: RGB | None
    accent: RGB
    font: Font
    filler_seed: int
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator) -> BrowserChrome:
        tabs = int(rng.integers(1, 7))
        site = f"{pick(rng, WORDS)}{pick(rng, WORDS)}{pick(rng, TLDS)}"
        path = "/".join(pick(rng, WORDS) for _ in range(int(rng.integers(0, 4))))
        dark_page = chance(rng, 0.35)
        page = colour(rng, 10, 45) if dark_page else colour(rng, 225, 255)
        column = (
            page
            if chance(rng, 0.5)
            else (colour(rng, 25, 55) if dark_page else colour(rng, 245, 255))
        )
        return cls(
            width=int(rng.integers(1280, 1921)),
            height=int(rng.integers(800, 1081)),
            ui=uniform(rng, 1.0, 1.25),
            dark_chrome=chance(rng, 0.5),
            mac=chance(rng, 0.4),
            tabs=tabs,
            active=int(rng.integers(tabs)),
            title=words(rng, 2, 6).title(),
            url=f"{pick(rng, ('https://', 'https://www.', ''))}{site}/{path}",
            bookmarks=chance(rng, 0.4),
            page=page,
            column=column,
            column_share=uniform(rng, 0.6, 1.0),
            dark_page=dark_page,
            site_header=colour(rng) if chance(rng, 0.5) else None,
            page_text=chance(rng, 0.7),
            share=uniform(rng, 0.4, 0.9),
            place=(uniform(rng, 0, 1), uniform(rng, 0, 1)),
            scrollbar=uniform(rng, 0, 1) if chance(rng, 0.6) else None,
            status=chance(rng, 0.3),
            taskbar=pick(rng, ((32, 32, 32), (240, 240, 240), (20, 40, 80)))
            if chance(rng, 0.5)
            else None,
            accent=colour(rng, 30, 230),
            font=Font.draw(rng),
            filler_seed=int(rng.integers(2**31)),
            encoding=Encoding.draw(rng, png_share=0.6, quality=(80, 95)),
        )


@dataclass(frozen=True)
class _ChromeColours:
    strip: RGB
    toolbar: RGB
    omnibox: RGB
    ink: RGB
    muted: RGB

    @classmethod
    def of(cls, dark: bool) -> _ChromeColours:
        if dark:
            return cls((32, 33, 36), (53, 54, 58), (32, 33, 36), (232, 234, 237), (154, 160, 166))
        return cls((222, 225, 230), (255, 255, 255), (241, 243, 244), (32, 33, 36), (95, 99, 104))


def browser_screenshot(picture: Pixels, chrome: BrowserChrome) -> Pixels:
    """The picture on a web page in ``chrome``'s window; the window's size in pixels."""
    w, h = chrome.width, chrome.height
    u = chrome.ui
    ui = _ChromeColours.of(chrome.dark_chrome)
    filler = np.random.default_rng(chrome.filler_seed)
    out = canvas(w, h, chrome.page)
    y = _browser_tabs(out, chrome, ui, filler, u)
    y = _browser_toolbar(out, chrome, ui, y, u)
    if chrome.bookmarks:
        y = _browser_bookmarks(out, chrome.font, ui, filler, y, u)
    rectangle(out, 0, y, w, y + 1, (0, 0, 0) if chrome.dark_chrome else (200, 200, 200))
    bottom = h - (round(44 * u) if chrome.taskbar is not None else 0)
    scroll_w = round(14 * u) if chrome.scrollbar is not None else 0
    _browser_page(out, picture, chrome, filler, (y + 1, bottom, w - scroll_w), u)
    if chrome.scrollbar is not None:
        _browser_scrollbar(out, chrome, (y + 1, bottom), scroll_w)
    if chrome.status:
        _browser_status(out, chrome, filler, bottom, u)
    if chrome.taskbar is not None:
        _taskbar(out, chrome.taskbar, chrome.font, filler, bottom, u)
    return out


def _browser_tabs(
    out: Pixels, chrome: BrowserChrome, ui: _ChromeColours, filler: np.random.Generator, u: float
) -> int:
    w = out.shape[1]
    strip = round(42 * u)
    rectangle(out, 0, 0, w, strip, ui.strip)
    if chrome.mac:
        for i, light in enumerate(((255, 95, 87), (254, 188, 46), (40, 200, 64))):
            circle(out, (20 + 22 * i) * u, strip / 2, 6.5 * u, light)
        x = 90 * u
    else:
        for i in range(3):  # minimise, maximise, close glyphs
            cx = w - (23 + 46 * i) * u
            if i == 0:
                _cross(out, cx, strip / 2, 6 * u, ui.ink)
            elif i == 1:
                outline_polygon(
                    out,
                    np.array([[-6, -6], [6, -6], [6, 6], [-6, 6]]) * u + [cx, strip / 2],
                    ui.ink,
                    1,
                )
            else:
                rectangle(out, cx - 6 * u, strip / 2, cx + 6 * u, strip / 2 + 1, ui.ink)
        x = 10 * u
    tab_w = min(240 * u, (w - x - 200 * u) / chrome.tabs)
    for i in range(chrome.tabs):
        title = chrome.title if i == chrome.active else words(filler, 1, 4).title()
        if i == chrome.active:
            corners = rounded_rectangle_points(x, 7 * u, x + tab_w, strip + 10 * u, 8 * u)
            fill_polygon(out, corners, ui.toolbar)
        elif i != chrome.active - 1:
            rectangle(out, x + tab_w - 1, 14 * u, x + tab_w, strip - 8 * u, ui.muted)
        icon = chrome.accent if i == chrome.active else colour(filler, 40, 220)
        circle(out, x + 20 * u, strip / 2 + 3 * u, 8 * u, icon)
        cap = 9 * u
        room = tab_w - 70 * u
        shown = title
        while len(shown) > 1 and text_width(shown, cap, chrome.font) > room:
            shown = shown[:-1]
        put_text(out, shown, x + 36 * u, strip / 2 + 3 * u - cap / 2, cap, ui.ink, chrome.font)
        _cross(out, x + tab_w - 18 * u, strip / 2 + 3 * u, 4 * u, ui.muted)
        x += tab_w
    _plus(out, x + 18 * u, strip / 2 + 3 * u, 7 * u, ui.ink)
    return strip


def _cross(out: Pixels, cx: float, cy: float, r: float, ink: RGB) -> None:
    for sign in (-1, 1):
        a, b = (round(cx - r), round(cy - sign * r)), (round(cx + r), round(cy + sign * r))
        cv2.line(out, a, b, ink, 1, cv2.LINE_AA)


def _plus(out: Pixels, cx: float, cy: float, r: float, ink: RGB) -> None:
    rectangle(out, cx - r, cy, cx + r, cy + 1.5, ink)
    rectangle(out, cx, cy - r, cx + 1.5, cy + r, ink)


def _browser_toolbar(
    out: Pixels, chrome: BrowserChrome, ui: _ChromeColours, y: int, u: float
) -> int:
    w = out.shape[1]
    bar = round(46 * u)
    rectangle(out, 0, y, w, y + bar, ui.toolbar)
    cy = y + bar / 2
    for i, direction in enumerate((-1, 1)):  # back and forward arrows
        cx = (22 + 34 * i) * u
        tip = (round(cx + direction * 8 * u), round(cy))
        cv2.line(out, (round(cx - direction * 8 * u), round(cy)), tip, ui.ink, 2, cv2.LINE_AA)
        for dy in (-1, 1):
            end = (round(cx), round(cy + dy * 7 * u))
            cv2.line(out, tip, end, ui.ink if i == 0 else ui.muted, 2, cv2.LINE_AA)
    circle(out, 90 * u, cy, 8 * u, ui.ink, 2)
    left, right = 120 * u, w - 150 * u
    rounded_rectangle(out, left, cy - 16 * u, right, cy + 16 * u, 16 * u, ui.omnibox)
    rectangle(out, left + 16 * u, cy - 2 * u, left + 26 * u, cy + 7 * u, ui.muted)  # padlock
    circle(out, left + 21 * u, cy - 3 * u, 4 * u, ui.muted, 2)
    put_text(out, chrome.url, left + 40 * u, cy - 5.5 * u, 11 * u, ui.ink, chrome.font)
    for i in range(3):  # extension icons and the profile avatar
        shade = chrome.accent if i == 2 else ui.muted
        circle(out, w - (120 - 38 * i) * u, cy, 9 * u, shade)
    return y + bar


def _browser_bookmarks(
    out: Pixels, font: Font, ui: _ChromeColours, filler: np.random.Generator, y: int, u: float
) -> int:
    bar = round(30 * u)
    rectangle(out, 0, y, out.shape[1], y + bar, ui.toolbar)
    x = 14 * u
    while x < out.shape[1] - 200 * u:
        label = words(filler, 1, 2).title()
        rectangle(
            out, x, y + bar / 2 - 6 * u, x + 12 * u, y + bar / 2 + 6 * u, colour(filler, 40, 220)
        )
        put_text(out, label, x + 20 * u, y + bar / 2 - 4.5 * u, 9 * u, ui.ink, font)
        x += 40 * u + text_width(label, 9 * u, font)
    return y + bar


def _browser_page(
    out: Pixels,
    picture: Pixels,
    chrome: BrowserChrome,
    filler: np.random.Generator,
    area: tuple[int, int, int],
    u: float,
) -> None:
    top, bottom, right = area
    content_w = right
    pic_w = chrome.share * content_w
    col_w = min(content_w, max(chrome.column_share * content_w, pic_w + 40 * u))
    col_x = (content_w - col_w) / 2
    rectangle(out, col_x, top, col_x + col_w, bottom, chrome.column)
    ink = (225, 225, 225) if chrome.dark_page else (40, 40, 40)
    muted = (150, 150, 150) if chrome.dark_page else (110, 110, 110)
    y = top
    if chrome.site_header is not None:
        y += _site_header(out, chrome, chrome.site_header, filler, (y, content_w, col_x, col_w), u)
    if chrome.page_text:
        y += round(24 * u)
        put_text(out, chrome.title, col_x + 20 * u, y, 20 * u, ink, bold(chrome.font))
        y += round(44 * u)
    y += round(16 * u)
    room_h = bottom - y - 16 * u
    shown = fit(picture, min(pic_w, col_w - 20 * u), max(40, room_h))
    ph, pw = shown.shape[:2]
    px = round(col_x + 10 * u + chrome.place[0] * (col_w - 20 * u - pw))
    py = round(y + chrome.place[1] * max(0, room_h - ph))
    paste(out, shown, px, py)
    if chrome.page_text:
        line = 24 * u
        regions = (
            (col_x + 20 * u, col_x + col_w - 20 * u, y, py - 20 * u),  # above the picture
            (col_x + 20 * u, px - 20 * u, py, py + ph),  # left of it
            (px + pw + 20 * u, col_x + col_w - 20 * u, py, py + ph),  # right of it
            (col_x + 20 * u, col_x + col_w - 20 * u, py + ph + 20 * u, bottom - 8 * u),  # below
        )
        for x0, x1, y0, y1 in regions:
            if x1 - x0 > 120 * u and y1 - y0 > line:
                _paragraphs(out, filler, chrome.font, (x0, x1, y0, y1), line, (ink, muted))


def _site_header(
    out: Pixels,
    chrome: BrowserChrome,
    fill: RGB,
    filler: np.random.Generator,
    place: tuple[int, float, float, float],
    u: float,
) -> int:
    """Draw the site's header bar (its name and a tagline) across the page at ``place``
    (top, page width, column left, column width; pixels); returns its height."""
    y, content_w, col_x, col_w = place
    head = round(56 * u)
    rectangle(out, 0, y, content_w, y + head, fill)
    light = sum(fill) > 380
    head_ink: RGB = (20, 20, 20) if light else (245, 245, 245)
    put_text(
        out,
        words(filler, 1, 2).title(),
        col_x + 20 * u,
        y + head / 2 - 9 * u,
        18 * u,
        head_ink,
        bold(chrome.font),
    )
    put_text(
        out,
        words(filler, 3, 5).title(),
        col_x + col_w * 0.5,
        y + head / 2 - 6 * u,
        12 * u,
        head_ink,
        chrome.font,
    )
    return head


def _paragraphs(
    out: Pixels,
    filler: np.random.Generator,
    font: Font,
    box: tuple[float, float, float, float],
    line: float,
    inks: tuple[RGB, RGB],
) -> None:
    """Lines of filler words inside ``box`` (x0, x1, y0, y1), ``line`` pixels apart."""
    x0, x1, y0, y1 = box
    cap = line * 0.42
    y = y0
    while y + line <= y1:
        if chance(filler, 0.15):  # paragraph break
            y += line
            continue
        text = words(filler, 4, 30)
        while len(text) > 1 and text_width(text, cap, font) > x1 - x0:
            text = text.rsplit(" ", 1)[0] if " " in text else text[:-1]
        put_text(out, text, x0, y, cap, pick(filler, inks), font)
        y += line


def _browser_scrollbar(
    out: Pixels, chrome: BrowserChrome, span: tuple[int, int], width: int
) -> None:
    top, bottom = span
    x0 = out.shape[1] - width
    track = (45, 45, 48) if chrome.dark_page else (241, 241, 241)
    thumb = (110, 110, 110) if chrome.dark_page else (193, 193, 193)
    rectangle(out, x0, top, out.shape[1], bottom, track)
    length = (bottom - top) * 0.3
    start = top + (bottom - top - length) * (chrome.scrollbar or 0.0)
    rounded_rectangle(out, x0 + 3, start, out.shape[1] - 3, start + length, width / 2, thumb)


def _browser_status(
    out: Pixels, chrome: BrowserChrome, filler: np.random.Generator, bottom: int, u: float
) -> None:
    text = f"{chrome.url.rstrip('/')}/{pick(filler, WORDS)}"
    cap = 9 * u
    width = text_width(text, cap, chrome.font) + 16 * u
    rectangle(out, 0, bottom - 24 * u, width, bottom, (240, 240, 240))
    put_text(out, text, 8 * u, bottom - 12 * u - cap / 2, cap, (40, 40, 40), chrome.font)


def _taskbar(
    out: Pixels, fill: RGB, font: Font, filler: np.random.Generator, top: int, u: float
) -> None:
    w, h = out.shape[1], out.shape[0]
    rectangle(out, 0, top, w, h, fill)
    ink: RGB = (20, 20, 20) if sum(fill) > 380 else (240, 240, 240)
    cy = (top + h) / 2
    icons = int(filler.integers(4, 10))
    x = w / 2 - icons * 24 * u if chance(filler, 0.5) else 12 * u
    for _ in range(icons):
        rounded_rectangle(
            out, x, cy - 14 * u, x + 28 * u, cy + 14 * u, 5 * u, colour(filler, 30, 240)
        )
        x += 48 * u
    clock = f"{int(filler.integers(0, 24)):02d}:{int(filler.integers(0, 60)):02d}"
    put_text(out, clock, w - 80 * u, cy - 5 * u, 10 * u, ink, font)
