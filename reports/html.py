"""report.html: one self-contained page for auditors.

Safe by construction: jinja2 autoescape is on for the template (set explicitly,
because ``select_autoescape`` does not match ``*.html.j2``), every printed string
also passes ``clean_text`` through the environment's ``finalize``, no value from the
data ever becomes a URL, and a Content-Security-Policy allows nothing but the page's
own inline style and script, each pinned by its SHA-256. The findings the script
pages through are a JSON data block (never executed) with ``<``, ``>`` and ``&``
escaped, so no string can close it.

Scale: the page is readable without JavaScript (Jenkins serves artefacts with a CSP
that blocks scripts): the server-rendered findings table holds the first
``STATIC_ROWS`` findings, most severe first, and each policy section shows
``POLICY_EXAMPLES`` findings with their evidence. With JavaScript the table pages,
filters and sorts over every finding from the data block, so the DOM stays small at
100k findings (docs/reports.md has the measurements).
"""

from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
from collections import Counter
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from ledgerguard.scanner.contract import severity_key
from ledgerguard.scanner.fsutil import atomic_file

from . import fourfold
from .base import FORMATS, Reporter
from .document import SEVERITIES, SEVERITY_RANK, View, location_text, waiver_text
from .i18n import localized
from .messages import evidence_key, evidence_value, message
from .safe import as_text, clean_text, truncate

if TYPE_CHECKING:  # jinja2 is imported when a report is rendered, not by every scan
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"
STATIC_ROWS = 1000  # findings rendered as HTML rows (the no-JavaScript view)
POLICY_EXAMPLES = 20  # findings with full evidence per policy section
TEXT_LIMIT = 2000  # characters of a message / evidence value shown in the page
EVIDENCE_KEYS = 40  # evidence entries shown per finding
EVIDENCE_CELL = 300  # characters of evidence in the findings table
RESOLVED_ROWS = 1000
CHART_POLICIES = 15
FOURFOLD_ROWS = 50  # findings listed under each 四性检测 item (all are in the findings table)
POLICY_LABEL_PX = 330  # the label column of the policy chart (report.html.j2 lays the bars out after it)


def _finalize(value: Any) -> Any:
    """Every ``{{ … }}`` output: Markup passes (our own CSS/JS/JSON), text is cleaned."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return "" if value is None else value
    return clean_text(value)


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["clip"] = lambda v, n=TEXT_LIMIT: truncate(as_text(v), n)
    env.filters["evidence_line"] = lambda v, lang="en": truncate(_evidence_line(v, lang), EVIDENCE_CELL)
    return env


@cache
def _asset(name: str) -> tuple[Markup, str]:
    """An inline asset and its CSP source expression ('sha256-…' of the exact text)."""
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if "</" in text:
        raise ValueError(f"{name} must not contain '</' (it is inlined into the page)")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
    return Markup(text), f"'sha256-{digest}'"


def _json_block(value: Any) -> Markup:
    """JSON that is safe inside <script type="application/json">: nothing can close it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _evidence(evidence: Any, lang: str) -> list[tuple[str, str]]:
    if not isinstance(evidence, dict):
        return [("", truncate(as_text(evidence), TEXT_LIMIT))] if evidence else []
    items = list(evidence.items())
    shown = [(evidence_key(str(k), lang), truncate(evidence_value(v, lang), TEXT_LIMIT))
             for k, v in items[:EVIDENCE_KEYS]]
    if len(items) > EVIDENCE_KEYS:
        shown.append(("…", f"+{len(items) - EVIDENCE_KEYS}"))
    return shown


def _text_width(text: str, font_px: int = 12) -> float:
    """Rendered width of ``text`` in pixels, roughly: CJK (wide) characters are one em,
    others about 0.6 em. Chart labels are laid out with it, so long Chinese titles
    are cut before they reach the bars instead of running into them."""
    return sum(font_px if unicodedata.east_asian_width(ch) in "WF" else font_px * 0.6 for ch in text)


def _chart_label(text: str, max_px: float) -> str:
    """A chart label at most ``max_px`` wide, with an ellipsis when cut."""
    if _text_width(text) <= max_px:
        return text
    while text and _text_width(text + "…") > max_px:
        text = text[:-1]
    return text.rstrip() + "…"


def _evidence_line(evidence: Any, lang: str = "en") -> str:
    """Evidence in one line for the findings table: ``key: value; …``.

    Easier to read in a table cell than JSON, and a quarter smaller in the data
    block, where JSON-in-JSON would escape every quote (evidence is most of its size).
    """
    if isinstance(evidence, dict):
        sep = "；" if lang == "zh" else "; "
        return sep.join(f"{evidence_key(k, lang)}: {evidence_value(v, lang)}" for k, v in evidence.items())
    return as_text(evidence)


def _bars(counts: list[tuple[str, str, int]], width: int = 260) -> dict[str, Any]:
    """Geometry of a horizontal bar chart: (label, css class, value) → bars."""
    top = max((v for _, _, v in counts), default=0) or 1
    bars = [
        {"label": label, "cls": cls, "value": value, "y": i * 22, "w": round(width * value / top) if value else 0}
        for i, (label, cls, value) in enumerate(counts)
    ]
    return {"bars": bars, "height": len(bars) * 22, "width": width}


TREND_WIDTH, TREND_HEIGHT, TREND_LEFT = 520, 160, 40


def _trend(view: View) -> dict[str, Any] | None:
    """Geometry of the trend chart (open findings per severity, one line each, over the
    scans of ``doc["trend"]``) as inline SVG: no script, so it prints and needs no JS."""
    trend = view.doc.get("trend") or []
    if len(trend) < 2:
        return {"rows": trend, "lines": [], "ticks": []} if trend else None
    top = max(max(t["open"].values(), default=0) for t in trend) or 1
    step = TREND_WIDTH / (len(trend) - 1)

    def y(v: int) -> float:
        return round(TREND_HEIGHT - TREND_HEIGHT * v / top, 1)

    lines = [{"sev": sev, "points": " ".join(f"{round(TREND_LEFT + i * step, 1)},{y(t['open'].get(sev, 0))}"
                                             for i, t in enumerate(trend))}
             for sev in SEVERITIES if any(t["open"].get(sev) for t in trend)]
    ticks = [{"x": round(TREND_LEFT + i * step, 1), "label": str(t["as_of"])[:10]} for i, t in enumerate(trend)]
    grid = [{"y": y(v), "label": f"{v:,}"} for v in sorted({0, top // 2, top})]
    return {"rows": trend, "lines": lines, "ticks": ticks, "grid": grid, "left": TREND_LEFT,
            "width": TREND_LEFT + TREND_WIDTH + 40, "height": TREND_HEIGHT + 40, "bottom": TREND_HEIGHT}


def _context(view: View) -> dict[str, Any]:
    L = view.labels
    findings = view.sorted_findings()
    grouped = view.findings_by_policy()
    policy_ids = list(view.policy_by_id) + sorted(set(grouped) - set(view.policy_by_id))
    policy_index = {pid: i for i, pid in enumerate(policy_ids)}
    open_counts = view.severity_counts()
    per_policy_open = Counter(f["policy_id"] for f in findings if f.get("status") != "waived")

    rows = [
        [
            SEVERITY_RANK.get(f["severity"], len(SEVERITIES) - 1),
            policy_index[f["policy_id"]],
            clean_text(as_text(f.get("subject"))),
            clean_text(truncate(message(f, view.lang), TEXT_LIMIT)),
            f.get("status") or "open",
            f.get("baseline") or "",
            f["id"],
            clean_text(as_text(f.get("code"))),
            clean_text(truncate(_evidence_line(f.get("evidence"), view.lang), EVIDENCE_CELL)),
        ]
        for f in findings
    ]
    data = {
        "severities": list(SEVERITIES),
        "policies": [[pid, clean_text(view.title_of(pid))] for pid in policy_ids],
        "rows": rows,
        "labels": {
            "sev": [L.sev(s) for s in SEVERITIES],
            "st": {k: L.st(k) for k in ("open", "waived", "new", "existing", "waiver_expired")},
            "rows_shown": L["rows_shown"],
        },
    }
    sections = []
    for policy in view.policies:
        pf = grouped.get(policy["id"], [])
        sections.append(
            {
                "p": policy,
                "title": view.title_of(policy["id"]),
                "description": localized(policy.get("description"), view.lang),
                "remediation": localized(policy.get("remediation"), view.lang),
                "references": [as_text(r) for r in policy.get("references") or []],
                "count": len(pf),
                "open": per_policy_open.get(policy["id"], 0),
                "state": view.policy_state(policy),
                "coverage": view.coverage_lines(policy),
                "warnings": [as_text(w) for w in policy.get("warnings") or []],
                "examples": [
                    {
                        "f": f,
                        "evidence": _evidence(f.get("evidence"), view.lang),
                        "waiver": waiver_text(f.get("waiver")),
                        "where": location_text(f.get("location")),
                    }
                    for f in pf[:POLICY_EXAMPLES]
                ],
                "more": max(len(pf) - POLICY_EXAMPLES, 0),
            }
        )
    busiest = sorted(per_policy_open.items(), key=lambda kv: (-kv[1], kv[0]))[:CHART_POLICIES]
    baseline = Counter(f.get("baseline") for f in findings if f.get("baseline"))
    css, css_hash = _asset("report.css")
    js, js_hash = _asset("report.js")
    csp = (
        f"default-src 'none'; style-src {css_hash}; script-src {js_hash}; img-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    return {
        "L": L,
        "lang": view.lang,
        "html_lang": "zh-CN" if view.lang == "zh" else "en",
        "csp": csp,
        "css": css,
        "js": js,
        "data": _json_block(data),
        "tool": view.tool,
        "scan": view.scan,
        "snapshot": view.scan.get("snapshot") or {},
        "summary": view.summary,
        "verdict": {"PASS": "pass", "FAIL": "fail"}.get(view.verdict, "error"),
        "verdict_text": view.verdict_text(),
        "is_gate": view.scan.get("command") == "gate",
        "severities": SEVERITIES,
        "open_counts": open_counts,
        "waived": sum(1 for f in findings if f.get("status") == "waived"),
        "total": len(findings),
        "sev_chart": _bars([(L.sev(s), f"sev-{s}", open_counts[s]) for s in SEVERITIES]),
        "policy_chart": _bars(
            [
                (
                    _chart_label(f"{pid} {view.title_of(pid)}", POLICY_LABEL_PX - 10),
                    f"sev-{view.policy_by_id.get(pid, {}).get('severity', 'info')}",
                    n,
                )
                for pid, n in busiest
            ],
            width=220,
        ),
        "static_rows": findings[:STATIC_ROWS],
        "static_cut": len(findings) > STATIC_ROWS,
        "static_shown": min(len(findings), STATIC_ROWS),
        "policy_titles": {pid: view.title_of(pid) for pid in policy_ids},
        "sections": sections,
        "controls": [
            dict(
                c,
                title_text=localized(c.get("title"), view.lang),
                procedure_text=localized(c.get("procedure"), view.lang),
            )
            for c in view.controls
        ],
        "fourfold": fourfold.table(view.doc, view.lang) if fourfold.applies(view.doc) else [],
        "fourfold_rows": FOURFOLD_ROWS,
        "waivers": view.waivers,
        "baseline": baseline,
        "has_baseline": bool(baseline or view.resolved),
        "resolved": sorted(view.resolved, key=severity_key)[:RESOLVED_ROWS],
        "resolved_total": len(view.resolved),
        "location_text": location_text,
        "waiver_text": waiver_text,
        "trend": _trend(view),
        "message_of": lambda f: message(f, view.lang),
        "policy_label_px": POLICY_LABEL_PX,
    }


@FORMATS.register("html")
class HtmlReporter(Reporter):
    filename = "report.html"

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        template = _environment().get_template("report.html.j2")
        path = out_dir / self.filename
        with atomic_file(path) as fh:
            for chunk in template.generate(**_context(View(doc, lang))):
                fh.write(chunk)
        return path
