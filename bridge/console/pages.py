"""The console's HTML: small server-written shells that carry no data and no script of their
own; console.js (served from this package) fills them from the JSON endpoints."""

from __future__ import annotations

from html import escape

from bridge import __version__

_HEAD = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/>'
         '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
         '<title>{title} · soap-bridge console</title>'
         '<link rel="stylesheet" href="/console/static/console.css"/>{meta}</head>')


def _page(title: str, body: str, csrf: str = "", script: bool = False, **meta: str) -> bytes:
    tags = "".join(f'<meta name="{escape(name)}" content="{escape(value)}"/>'
                   for name, value in {"csrf-token": csrf, **meta}.items() if value)
    scripts = '<script src="/console/static/console.js" defer></script>' if script else ""
    return (_HEAD.format(title=escape(title), meta=tags + scripts) + "<body>"
            + '<header><a class="brand" href="/console/">soap-bridge migration console</a>'
            + f'<span class="version">{escape(__version__)}</span>' + body
            ).encode() + b"</body></html>\n"


def _logout(csrf: str) -> str:
    return ('<form id="logout" method="post" action="/console/logout">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}"/>'
            '<button type="submit">Log out</button></form></header>')


def login_page(problem: str = "") -> bytes:
    shown = f'<p class="problem" role="alert">{escape(problem)}</p>' if problem else ""
    return _page("Log in", '</header><main class="login"><h1>Operator log-in</h1>' + shown
                 + '<form method="post" action="/console/login">'
                 '<label for="key">Operator key</label>'
                 '<input id="key" name="key" type="password" autocomplete="current-password" '
                 'required/><button type="submit">Log in</button></form>'
                 '<p class="meta">A key from <code>operator_keys</code> in the configuration. '
                 'The session lasts 15 minutes.</p></main>')


def index_page(csrf: str) -> bytes:
    return _page("Operations", _logout(csrf) + '<main id="index"><h1>Operations</h1>'
                 '<p class="meta" id="status">Loading…</p>'
                 '<table id="operations"><thead><tr><th>operation</th><th>modes</th>'
                 '<th>compared</th><th>agreement</th><th>verdict</th></tr></thead>'
                 '<tbody></tbody></table></main>', csrf, script=True, page="index")


def operation_page(operation: str, csrf: str) -> bytes:
    name = escape(operation)
    return _page(operation, _logout(csrf) + f'<main id="operation"><h1>{name}</h1>'
                 '<p class="verdict" id="verdict">Loading…</p>'
                 '<p class="meta"><label for="window">Comparisons</label> '
                 '<select id="window"><option value="">since the first record</option>'
                 '<option value="24h">last 24 hours</option><option value="1h">last hour'
                 '</option><option value="15m">last 15 minutes</option></select> '
                 '<span id="status"></span></p>'
                 '<section class="figures" id="figures"></section>'
                 '<h2>Mode per cohort</h2><table id="modes"><thead><tr><th>cohort</th>'
                 '<th>who</th><th>configured</th><th>in force</th><th></th></tr></thead>'
                 '<tbody></tbody></table>'
                 '<h2>Agreement over time</h2>'
                 '<canvas id="agreement-chart" width="720" height="200" '
                 'aria-label="agreement over time"></canvas>'
                 '<h2>Latency (p50) of both sides</h2>'
                 '<canvas id="latency-chart" width="720" height="200" '
                 'aria-label="latency of both sides over time"></canvas>'
                 '<p class="legend"><span class="swatch legacy"></span>legacy '
                 '<span class="swatch rest"></span>REST</p>'
                 '<h2>Errors by side</h2><table id="errors"><thead><tr><th>side</th>'
                 '<th>error</th><th>count</th></tr></thead><tbody></tbody></table>'
                 '<h2>Differences</h2><div id="differences"></div>'
                 '<h2>Noise</h2><p class="meta">Paths learned as noise (they differ between '
                 'two answers of the legacy service itself) or marked noise by an operator: '
                 'ignored in every comparison.</p><div id="noise"></div>'
                 '<h2>Decisions</h2><table id="audit"><thead><tr><th>when</th><th>what</th>'
                 '<th>by</th><th>details</th></tr></thead><tbody></tbody></table>'
                 '</main>', csrf, script=True, page="operation", operation=operation)
