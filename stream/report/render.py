"""The report on disk: ``index.html`` (self-contained: inline style, no script, no remote
resource), the figures as PNG beside it, and ``report.json`` with every figure.

Every text that comes from the input or the configuration (cluster names, file names) is
HTML-escaped: page paths and titles are visitor-supplied.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from stream.report import plots
from stream.report.impact import ALL_ESTIMATORS
from stream.report.logged import LOGGED
from stream.report.outcomes import LABELS, METRICS, PERCENT

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td.name, th.name { text-align: left; }
.sig-up { background: #e3f4e1; font-weight: 600; } .sig-down { background: #fbe3e1; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #555; font-size: 13px; } li { margin: 0.3em 0; }
"""


def write_report(report: dict, out_dir: Path) -> Path:
    """Write figures, JSON and HTML into ``out_dir``; return the HTML file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = plots.draw_all(report, out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    page = out_dir / "index.html"
    page.write_text(html_page(report, figures), encoding="utf-8")
    return page


def html_page(report: dict, figures: dict[str, str]) -> str:
    """The report as one HTML document (figures referenced by file name)."""
    sections = [_summary(report), _assumptions(report), _accuracy(report, figures),
                _page_value(figures), _policy(report, figures), _impact(report, figures),
                _published(report), _logged_experiment(report), _method()]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>PagePilot impact report</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n")


def _summary(report: dict) -> str:
    parts, impact = report["parts"], report["impact"]
    logged = impact["logged"]
    baseline = ", ".join(f"{LABELS[m].split(' (')[0]} {_fmt(m, logged[m]['estimate'])}"
                         for m in METRICS)
    rows = "".join(_uplift_row(impact, name, "value") for name in ALL_ESTIMATORS)
    header = "".join(f"<th>rho = {rho:g}</th>" for rho in impact["rho"] if rho > 0)
    return f"""<h1>PagePilot impact report</h1>
<p class="note">Generated {escape(report['generated'])} from {escape(report['input']['source'])}:
{report['input']['sessions']:,} sessions, {report['input']['page_views']:,} page views.
The policy learned on {parts['learning_sessions']:,} sessions; its impact is estimated on the
next {parts['evaluation_sessions']:,} sessions ({parts['evaluation_page_views']:,} page views),
which it never learned from.</p>
<h2>Summary</h2>
<p><b>Propensities</b>: {escape(report.get('propensities_note', 'estimated'))}.</p>
<p><b>What visitors actually did</b> (evaluation sessions): {escape(baseline)}.</p>
<p><b>Value per session</b>: {_verdict_text(report['verdicts']['value'])}</p>
<p><b>Conversion rate</b>: {_verdict_text(report['verdicts']['conversion'])}</p>
{_weights_caveat(report['verdicts']['weights_degenerate_from'])}
<table><caption>Uplift of value per session ($) over the logged behaviour if a visitor who
goes on follows the recommendation with probability rho (estimate and
{100 * impact['level']:.0f}% interval; green: the interval is above zero, red: below)</caption>
<tr><th class="name">estimator</th>{header}</tr>{rows}</table>"""


def _uplift_row(impact: dict, name: str, metric: str) -> str:
    cells = "".join(_uplift_cell(metric, row) for row in impact["estimates"][name][metric]
                    if row["rho"] > 0)
    return f"<tr><td class=\"name\">{plots.NAMES[name]}</td>{cells}</tr>"


def _uplift_cell(metric: str, row: dict) -> str:
    return f"<td class=\"{_significance(row)}\">{_uplift_text(metric, row)}</td>"


def _estimate_cell(metric: str, row: dict) -> str:
    estimate = (f"{_fmt(metric, row['estimate'])} "
                f"[{_fmt(metric, row['low'])}, {_fmt(metric, row['high'])}]")
    return f"<td class=\"{_significance(row)}\">{estimate}<br>{_uplift_text(metric, row)}</td>"


def _significance(row: dict) -> str:
    """The CSS class of an uplift whose interval lies above or below zero."""
    low, high = row["uplift_low"], row["uplift_high"]
    return ("sig-up" if low is not None and low > 0 else
            "sig-down" if high is not None and high < 0 else "")


def _uplift_text(metric: str, row: dict) -> str:
    uplift, low, high = (_fmt(metric, row[key], sign=True)
                         for key in ("uplift", "uplift_low", "uplift_high"))
    return f"{uplift} [{low}, {high}]"


def _verdict_text(verdicts: dict) -> str:
    """Which estimators find a significant uplift or loss at which rho, estimators that
    agree named together.

    >>> same = {"up": [0.1, 0.2], "down": []}
    >>> _verdict_text({"model": same, "ips": same, "snips": {"up": [], "down": []}, "dr": same})
    'model-based, IPS and DR find an uplift at rho = 0.1, 0.2; SNIPS: no significant change.'
    """
    groups: dict[tuple, list[str]] = {}
    for name in ALL_ESTIMATORS:
        key = (tuple(verdicts[name]["up"]), tuple(verdicts[name]["down"]))
        groups.setdefault(key, []).append(plots.NAMES[name])
    if list(groups) == [((), ())]:
        return "no estimator finds a significant change at any rho."
    parts = []
    for (up, down), names in groups.items():
        who = _and(names)
        verb = "finds" if len(names) == 1 else "find"
        found = [f"{word} at rho = {', '.join(f'{rho:g}' for rho in rhos)}"
                 for word, rhos in (("an uplift", up), ("a loss", down)) if rhos]
        parts.append(f"{who} {verb} {' and '.join(found)}" if found
                     else f"{who}: no significant change")
    return "; ".join(parts) + "."


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _weights_caveat(rho: float | None) -> str:
    if rho is None:
        return ""
    return (f"<p class=\"note\">From rho = {rho:g} on, the importance weights are degenerate "
            f"(effective sample size under 10% of sessions, or a mean session weight under "
            f"0.8 where 1 is expected): IPS, SNIPS and, less so, DR rest on a few sessions "
            f"and miss what long sessions (buyers) would bring, and their intervals "
            f"understate the uncertainty. The model-based estimate uses no weights; it "
            f"rests on the Markov assumption instead.</p>")


def _assumptions(report: dict) -> str:
    items = "".join(f"<li>{escape(text)}</li>" for text in report["assumptions"])
    return f"<h2>Assumptions</h2><p>The estimates hold if these hold:</p><ol>{items}</ol>"


def _accuracy(report: dict, figures: dict) -> str:
    rows = "".join(
        f"<tr><td class=\"name\">{escape(name)}</td><td>{m['events']:,}</td>"
        f"<td>{m['top1']:.3f}</td><td>{m['hr3']:.3f}</td><td>{m['hr5']:.3f}</td>"
        f"<td>{m['mrr']:.3f}</td></tr>" for name, m in report["accuracy"]["total"].items())
    return f"""<h2>1. Next-page accuracy over time</h2>
<p>Prequential (predict, then learn) accuracy of the River classifier against the Markov and
popularity baselines, over the last {report['accuracy']['window']:,} transitions, by the
worker's own learning code. The dashed line is where the policy was frozen.</p>
{_img(figures, 'accuracy', 'Next-page accuracy over time')}
<table><tr><th class="name">model</th><th>transitions</th><th>top-1</th><th>HR@3</th>
<th>HR@5</th><th>MRR</th></tr>{rows}</table>"""


def _page_value(figures: dict) -> str:
    return f"""<h2>2. Page value per cluster</h2>
<p>Google Analytics' page value: the revenue of the sessions that viewed a cluster before
buying, per unique page view. Dark: as the policy learned it (learning part), which is what
its Q-values reward; light: measured on the evaluation part.</p>
{_img(figures, 'page_value', 'Page value per cluster')}"""


def _policy(report: dict, figures: dict) -> str:
    published = (report.get("published") or {}).get("first_by_cluster")
    extra = "<th class=\"name\">published (share)</th>" if published else ""
    rows = "".join(_policy_row(row, published) for row in report["policy"])
    return f"""<h2>3. The learned policy per cluster</h2>
<p>What the frozen policy recommended first on the cluster's page views (and the share of
its page views where that was first), the recommendation a visitor could follow (the first
one that is not an order page), against the most likely next cluster of the Markov counts.
Q is the learned value of going there; page value is the learned page value. Over all
clusters it recommended {report['recommended']['distinct_clusters']:,} distinct clusters in
{report['recommended']['distinct_lists']:,} distinct lists.</p>
{_img(figures, 'policy', 'Learned policy per cluster')}
<table><tr><th class="name">cluster</th><th>page views</th><th class="name">recommended</th>
<th class="name">followable</th><th class="name">most likely next</th><th>Q rec.</th>
<th>Q likely</th><th>page value rec.</th><th>page value likely</th>
<th class="name">source</th>{extra}</tr>{rows}</table>"""


def _policy_row(row: dict, published: dict | None) -> str:
    sources = ", ".join(f"{escape(k)} {v:.0%}" for k, v in row["sources"].items())
    cells = [f"<td class=\"name\">{escape(row['cluster'])}</td>", f"<td>{row['page_views']:,}</td>",
             _named(row["recommended"], row["recommended_share"]),
             _named(row["followed"], row["followed_share"]),
             _named(row["most_likely"], row["most_likely_probability"]),
             f"<td>{_num(row['q_recommended'])}</td>", f"<td>{_num(row['q_most_likely'])}</td>",
             f"<td>{_num(row['page_value_recommended'])}</td>",
             f"<td>{_num(row['page_value_most_likely'])}</td>",
             f"<td class=\"name\">{sources}</td>"]
    if published:
        first = published.get(row["cluster"])
        cells.append(_named(*first) if first else "<td class=\"name\">-</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def _impact(report: dict, figures: dict) -> str:
    impact = report["impact"]
    tables = "".join(_metric_table(impact, metric) for metric in METRICS)
    weights = "".join(f"<tr><td>{w['rho']:g}</td><td>{w['ess']:.1%}</td>"
                      f"<td>{w['mean']:.2f}</td><td>{w['clipped']:.2%}</td></tr>"
                      for w in impact["weights"])
    return f"""<h2>4. Estimated impact (estimated propensities)</h2>
<p>Each metric under the policy against the logged behaviour, for each probability rho that a
visitor who goes on follows the recommendation. <b>Model-based</b>: the empirical Markov
decision process of the evaluation sessions, solved exactly (the mean of infinitely many
simulated sessions). <b>IPS</b>, <b>SNIPS</b> (self-normalised) and <b>DR</b> (doubly robust, the
model as its direct method): per-decision importance sampling of the logged sessions with
estimated propensities. Grey band: the logged figure and its interval.</p>
{_img(figures, 'impact', 'Estimated impact against rho')}
{_img(figures, 'uplift', 'Uplift of value per session and conversion')}
{tables}
<table><caption>Importance weights: effective sample size (share of sessions), mean session
weight (1 in expectation) and sessions whose weight reached the clip of {impact['clip']:.0f}.
A small ESS or mean means IPS, SNIPS and DR rest on a few sessions: their intervals then
understate the uncertainty.</caption>
<tr><th>rho</th><th>ESS</th><th>mean weight</th><th>clipped</th></tr>{weights}</table>"""


def _metric_table(impact: dict, metric: str) -> str:
    header = "".join(f"<th>{plots.NAMES[name]}</th>" for name in ALL_ESTIMATORS)
    rows = []
    for r, rho in enumerate(impact["rho"]):
        cells = "".join(_estimate_cell(metric, impact["estimates"][name][metric][r])
                        for name in ALL_ESTIMATORS)
        rows.append(f"<tr><td>{rho:g}</td>{cells}</tr>")
    logged = impact["logged"][metric]
    return (f"<table><caption>{escape(LABELS[metric])}: logged {_fmt(metric, logged['estimate'])}"
            f" [{_fmt(metric, logged['low'])}, {_fmt(metric, logged['high'])}]; estimate "
            f"[interval] and uplift [interval]</caption><tr><th>rho</th>{header}</tr>"
            + "".join(rows) + "</table>")



def _published(report: dict) -> str:
    published = report.get("published")
    if published is None:
        return ""
    source = escape(report["input"]["source"])
    if not published["recommendations"]:
        return (f"<h2>5. What the running system published</h2><p>No recommendations were "
                f"found for {source}: no worker has processed these page views. The policy "
                f"above was learned by this report from the page views alone.</p>")
    sources = ", ".join(f"{escape(k)} {v:.1%}" for k, v in published["sources"].items())
    agreement = ("-" if published["agreement"] is None else f"{published['agreement']:.1%}")
    return f"""<h2>5. What the running system published</h2>
<p>{published['recommendations']:,} recommendations (one per event id) of policy
{escape(', '.join(published['policies']))}, versions {published['policy_versions'][0]:,} to
{published['policy_versions'][1]:,}; cold (nothing to recommend yet): {published['cold_share']:.1%};
candidates from: {sources}. On the {published['compared']:,} evaluation page views it answered,
its first recommendation was the frozen policy's in {agreement} of cases (the running system
kept learning while the frozen policy did not). The "published" column of the policy table
shows its most frequent first recommendation per cluster.</p>"""


EXPERIMENT_METRICS = (("hit_rate", "hit rate", "pct"), ("followed_value", "followed value", "$"),
                      ("value_per_session", "value per session", "$"),
                      ("conversion", "conversion", "pct"))


def _note(report: dict) -> str:
    note = report.get("propensities_note") or "propensities estimated"
    return note[:1].upper() + note[1:]


def _logged_experiment(report: dict) -> str:
    """The system's own experiment from its outcomes topic, with logged propensities; or
    why there is none (only for a report of the topics)."""
    section = report.get("logged_experiment")
    if section is None:
        if not report.get("propensities_note", "").startswith("no logged propensities (no "
                                                                 "outcomes"):
            return ""
        return (f"<h2>6. Logged experiment</h2><p>{escape(_note(report))}: the outcomes "
                f"topic holds no outcome of a served recommendation (no worker published "
                f"one, or no session has ended yet). The impact above rests on estimated "
                f"propensities only.</p>")
    kind = ("logged propensities" if section["propensities"] == LOGGED
            else "no off-policy estimate: A/B figures only")
    control = section["control"]
    counts = section.get("counts") or {}
    read = (f" ({counts['records']:,} records read, {counts['repeated']:,} repeats and "
            f"{counts['invalid']:,} invalid left out)" if counts else "")
    header = "".join(f"<th>{label}</th>" for _key, label, _kind in EXPERIMENT_METRICS)
    rows = []
    for name in section["order"]:
        arm = section["variants"][name]
        eps = ", ".join(f"{e:g}" for e in section["epsilon"][name])
        mark = " (control)" if name == control else ""
        sessions = arm.get("value_per_session", {}).get("n", 0)
        cells = "".join(f"<td>{_mean_text(arm.get(key), unit)}</td>"
                        for key, _label, unit in EXPERIMENT_METRICS)
        rows.append(f"<tr><td class=\"name\">{escape(name)}{mark}</td><td>{eps}</td>"
                    f"<td>{sessions:,}</td><td>{arm['hit_rate']['n']:,}</td>{cells}</tr>")
        diff = arm.get("vs_control")
        if diff:
            cells = "".join(_difference_cell(diff.get(key), unit)
                            for key, _label, unit in EXPERIMENT_METRICS)
            rows.append(f"<tr><td class=\"name\">{escape(name)} - {escape(control)}</td>"
                        f"<td></td><td></td><td></td>{cells}</tr>")
    served = (f"<table><caption>Served variants: means with 95% intervals, and each "
              f"variant's difference to the control {escape(control)} "
              f"({escape(section['control_from'])}; green: the difference's interval is "
              f"above zero, red: below)</caption>"
              f"<tr><th class=\"name\">variant</th><th>epsilon</th><th>sessions</th>"
              f"<th>page views</th>{header}</tr>{''.join(rows)}</table>")
    return f"""<h2>6. Logged experiment ({kind})</h2>
<p>What the running system's own experiment measured: {section['outcomes']:,} outcomes of served
recommendations (one per event id) from {escape(section['source'])}{read}, of
{section['sessions']:,} sessions that had ended (a session's outcomes are published when it
ends; page views of sessions still open are not here). Unlike the estimated impact above,
these are all the sessions, learning and evaluation parts alike, as the worker served them.
<b>Hit rate</b>: the next page was among the recommended; <b>followed value</b>: revenue in
the rest of the session after a followed recommendation, per page view; <b>value per
session</b> and <b>conversion</b> per session. Page views of one session go together, so
every interval is computed over sessions (clustered by session).</p>
{served}
{_offpolicy_table(section)}"""


def _offpolicy_table(section: dict) -> str:
    if not section["offpolicy"]:
        return ("<p class=\"note\">No off-policy estimate: no exploring variant (epsilon "
                "above 0) logged another variant's list. An experiment with an exploring "
                "variant and a second variant (or a shadow) gives them.</p>")
    rows = []
    for target, est in section["offpolicy"].items():
        logged_by = ", ".join(f"{escape(name)} ({n:,})" for name, n in est["logged_by"].items())
        served = est.get("served") or {}
        for reward, label, unit, on_policy in (("hit", "hit rate", "pct", "hit_rate"),
                                               ("value", "followed value", "$",
                                                "followed_value")):
            r = est.get(reward)
            if r is None:
                continue
            cells = "".join(f"<td>{_mean_text(r[name], unit)}</td>"
                            for name in ("ips", "snips", "dr"))
            rows.append(
                f"<tr><td class=\"name\">{escape(target)}</td><td class=\"name\">{label}</td>"
                f"<td class=\"name\">{logged_by}</td><td>{est['support']:.1%}</td>"
                f"<td>{r['ess']:,.0f} of {r['ips']['n']:,}</td><td>{_num(r['mean_weight'])}</td>"
                f"{cells}<td>{_mean_text(served.get(on_policy), unit)}</td></tr>")
    return f"""<table><caption>Off-policy estimates with the logged propensities: what each
target variant's lists would have scored on the exploring variants' page views (IPS,
self-normalised IPS, doubly robust with the worker's Markov and Q reward model), 95%
intervals; the effective sample size of the weights among the page views; support: share of
the target's items the logging variant can show (DR alone sees the others); served: the
target's own figure where it was served too, to compare with.</caption>
<tr><th class="name">target</th><th class="name">reward</th><th class="name">logged by (page
views)</th><th>support</th><th>ESS</th><th>mean weight</th><th>IPS</th><th>SNIPS</th>
<th>DR</th><th>served</th></tr>{''.join(rows)}</table>"""


def _mean_text(m: dict | None, unit: str) -> str:
    if not m or m.get("mean") is None:
        return "-"
    value = _unit(m["mean"], unit)
    if m.get("low") is None:
        return value
    return f"{value} [{_unit(m['low'], unit)}, {_unit(m['high'], unit)}]"


def _difference_cell(d: dict | None, unit: str) -> str:
    if not d or d.get("mean") is None:
        return "<td>-</td>"
    signed = {key: _unit(d[key], unit, sign=True) for key in ("mean", "low", "high")}
    css = ("sig-up" if d["low"] > 0 else "sig-down" if d["high"] < 0 else "")
    return f"<td class=\"{css}\">{signed['mean']} [{signed['low']}, {signed['high']}]</td>"


def _unit(x: float, unit: str, sign: bool = False) -> str:
    plus = "+" if sign else ""
    if unit == "pct":
        return f"{100 * x:{plus}.2f}" + (" pts" if sign else "%")
    return f"{x:{plus},.2f}" if sign else f"${x:,.2f}"


def _method() -> str:
    return """<h2>Definitions</h2><ul class="note">
<li>Value per session: transaction revenue per session. Conversion rate: transactions per
session. Bounce rate: share of sessions with one page view. Pages per session: page views
per session. Time on page: seconds to the next page view of the session, over page views
that have one (the last page of a session has none, as in Google Analytics).</li>
<li>Uplift: an estimator's figure at rho minus its own figure at rho = 0 (the logged
behaviour), computed within every bootstrap resample.</li>
<li>Method and its limits: docs/report.md in the PagePilot repository.</li></ul>"""


def _img(figures: dict, name: str, alt: str) -> str:
    return f"<img src=\"{escape(figures[name])}\" alt=\"{escape(alt)}\">"


def _named(name, share) -> str:
    if name is None:
        return "<td class=\"name\">-</td>"
    return f"<td class=\"name\">{escape(str(name))} ({share:.0%})</td>"


def _num(x) -> str:
    return "-" if x is None else f"{x:,.2f}"


def _fmt(metric: str, x, sign: bool = False) -> str:
    if x is None:
        return "-"
    plus = "+" if sign else ""
    if metric in PERCENT:
        return f"{100 * x:{plus}.2f}" + ("" if sign else "%")
    if metric == "value":
        return f"{x:{plus},.2f}" if sign else f"${x:,.2f}"
    if metric == "time_on_page" and not sign:
        return f"{x:,.1f} s"
    return f"{x:{plus},.2f}"
