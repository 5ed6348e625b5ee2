"""Write bench/REPORT.md and bench/report.png from the scenario results of ONE run.

Every figure comes from the JSON the scenario processes wrote in that run; a
scenario that did not run or failed is shown as such, never filled in. To rewrite
the report of the last run without measuring again (after changing this file):

    python -m bench.report bench/out/results.json
    python -m bench.report --engine-only bench/out     # the engine section only (bench/engine.py)
"""

import argparse
import json
import math
import os
import re
import statistics

BATCH_LIMIT = 20  # Graph's $batch limit (utils/graph_client.py)
HERE = os.path.dirname(os.path.abspath(__file__))
# Why a figure is what it is, when the figures alone cannot say: written by hand after a run, in
# these files, each opening with the run it is about ("... the run generated 2026-11-30 18:24 UTC ...").
# The report prints them under a heading that says so, and says when they are about another run.
REPORT_NOTES = os.path.join(HERE, "report_notes.md")
ENGINE_NOTES = os.path.join(HERE, "engine_notes.md")
NOTES_RUN = re.compile(r"run generated (\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC)")

SCENARIO_TITLES = {
    "push": "1. Push: one user, activity changes",
    "msc_push": "1. Push: microsoft_calendar, calendar.event changes",
    "pull": "2. Pull: new Outlook events of one user",
    "msc_pull": "2. Pull: microsoft_calendar, same events",
    "latency": "3. Latency: Outlook change to Odoo record",
}


def _ok(result):
    return bool(result) and result.get("status") == "ok"


def _f(value, digits=2, unit=""):
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value:,.{digits}f}{unit}"


def _ratio(a, b):
    if not a or not b:
        return None
    return a / b


def _row(label, engine, work, m, verified):
    graph = m.get("graph") or {}
    return (
        f"| {label} | {engine} | {work} | {_f(graph.get('http'))} | {_f(graph.get('operations'))} | "
        f"{_f(m.get('wall_s'), 2, ' s')} | {_f(m.get('odoo_cpu_s'), 2, ' s')} | {_f(m.get('sql_queries'))} | "
        f"{_f(m.get('peak_rss_mb'), 0, ' MB')} | {'yes' if verified else 'NO'} |"
    )


def main_table(results):
    lines = [
        "| Scenario | Engine | Work | Graph HTTP requests | Graph operations | Wall time | Odoo CPU | SQL queries"
        " | Peak memory (RSS) | Result checked |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for name in ("push", "msc_push", "pull", "msc_pull", "latency"):
        r = results.get(name)
        title = SCENARIO_TITLES[name]
        engine = "microsoft_calendar (Odoo)" if name.startswith("msc") else "o365_calendar_sync"
        if not _ok(r):
            reason = (r or {}).get("error") or (r or {}).get("reason") or "not run"
            lines.append(f"| {title} | {engine} | not run: {reason.splitlines()[0][:160]} | | | | | | | |")
            continue
        if name in ("push", "msc_push"):
            work = f"{r['changes']:,} changes ({r['creates']} creates, {r['edits']} edits, {r['deletes']} deletes)"
            lines.append(_row(title, engine, work, r["total"], r["verified"]))
        elif name in ("pull", "msc_pull"):
            kept = r.get("logged", r.get("imported"))
            work = f"{r['events']:,} events, {r['with_contact']:,} with a matching contact; {kept:,} recorded in Odoo"
            lines.append(_row(title, engine, work, r["total"], r["verified"]))
        elif name == "latency":
            work = f"{r['samples']} Outlook changes, one at a time (odoo-bin process figures)"
            lines.append(_row(title, engine, work, r["total"], r["verified"]))
    return "\n".join(lines)


def side_by_side(results):
    lines = [
        "| Work | Measure | o365_calendar_sync | microsoft_calendar | microsoft_calendar / ours |",
        "|---|---|---:|---:|---:|",
    ]
    for ours, theirs, label in (("push", "msc_push", "Push"), ("pull", "msc_pull", "Pull")):
        a, b = results.get(ours), results.get(theirs)
        if not (_ok(a) and _ok(b)):
            lines.append(f"| {label} | not compared: one side did not run | | | |")
            continue
        ma, mb = a["total"], b["total"]
        for measure, va, vb, unit, digits in (
            ("Graph HTTP requests", ma["graph"]["http"], mb["graph"]["http"], "", 0),
            ("Graph operations", ma["graph"]["operations"], mb["graph"]["operations"], "", 0),
            ("Wall time", ma["wall_s"], mb["wall_s"], " s", 2),
            ("Odoo CPU", ma["odoo_cpu_s"], mb["odoo_cpu_s"], " s", 2),
            ("SQL queries", ma["sql_queries"], mb["sql_queries"], "", 0),
            ("Peak memory (RSS)", ma["peak_rss_mb"], mb["peak_rss_mb"], " MB", 0),
        ):
            ratio = _ratio(vb, va)
            lines.append(
                f"| {label} | {measure} | {_f(va, digits, unit)} | {_f(vb, digits, unit)} | "
                f"{_f(ratio, 2, 'x') if ratio is not None else '-'} |"
            )
    return "\n".join(lines)


def per_unit(results):
    """Cost of one change (push) or one Outlook event (pull), both engines."""
    lines = [
        "| Work | Engine | Graph HTTP requests | Odoo CPU | SQL queries | Wall time |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, unit, size in (("push", "change", "changes"), ("pull", "event", "events")):
        for name, engine in ((key, "o365_calendar_sync"), ("msc_" + key, "microsoft_calendar")):
            r = results.get(name)
            if not _ok(r):
                lines.append(f"| per {unit} | {engine} | not run | | | |")
                continue
            n, m = r[size], r["total"]
            lines.append(
                f"| per {unit} | {engine} | {m['graph']['http'] / n:.3f} | {m['odoo_cpu_s'] / n * 1000:.1f} ms | "
                f"{m['sql_queries'] / n:.1f} | {m['wall_s'] / n * 1000:.1f} ms |"
            )
    return "\n".join(lines)


def _kept(result):
    """Odoo records a pull made: meetings logged (this module) or events imported (microsoft_calendar)."""
    return result.get("logged", result.get("imported")) or 0


def _share(part, whole):
    return f"{part / whole:.0%}" if whole else "-"


def _per_thousand(value, count):
    return f"{value / count * 1000:.1f}" if count else "-"


def _target(name, goal, measured, met, note):
    verdict = "not measured" if met is None else ("**met**" if met else "**missed**")
    return f"| {name} | {goal} | {measured} | {verdict} | {note} |"


def targets(results, latency_ms):
    rows = ["| Target | Goal | Measured | Verdict | Why / by how much |", "|---|---|---|---|---|"]
    push, pull, lat = (results.get(k) for k in ("push", "pull", "latency"))

    if _ok(push):
        http = push["total"]["graph"]["http"]
        per = http / push["changes"]
        ops = push["total"]["graph"]["operations"]
        note = (
            f"{http} HTTP requests for {push['changes']} changes "
            f"({ops} Graph operations, up to {BATCH_LIMIT} per $batch)"
        )
        if per > 0.06:
            fewest = math.ceil(ops / BATCH_LIMIT)
            note += (
                f"; {per / 0.06:.2f}x the goal: {ops / http:.1f} operations per request; full $batches of"
                f" {BATCH_LIMIT} would have taken {fewest} requests ({fewest / push['changes']:.3f} per change)"
            )
        rows.append(_target("Push requests per change", "<= 0.06", f"{per:.3f}", per <= 0.06, note))
    else:
        rows.append(_target("Push requests per change", "<= 0.06", "-", None, "push scenario did not run"))

    if _ok(pull):
        per = pull["events_per_request"]
        rate = pull["ingest_per_s"]
        note = f"{pull['events']} events in {pull['total']['graph']['http']} delta requests"
        rows.append(
            _target(
                "Pull events per request",
                ">= 50",
                f"{per:.1f}",
                per >= 50,
                note + ("" if per >= 50 else " (fewer events than one page holds: run with more --events)"),
            )
        )
        why = (
            f"{pull['events']} events in {pull['total']['wall_s']:.2f} s, "
            f"Odoo CPU {pull['total']['odoo_cpu_s']:.2f} s, {pull['total']['sql_queries']} SQL queries"
        )
        if rate < 200:
            total = pull["total"]
            why += (
                f"; {200 / rate:.2f}x too slow. Per event: {total['odoo_cpu_s'] / pull['events'] * 1000:.1f} ms of"
                f" Odoo CPU, {total['sql_queries'] / pull['events']:.1f} SQL queries; Odoo CPU was"
                f" {_share(total['odoo_cpu_s'], total['wall_s'])} of the wall time"
            )
        rows.append(_target("Ingest rate", ">= 200 events/s", f"{rate:.0f} events/s", rate >= 200, why))
    else:
        rows.append(_target("Pull events per request", ">= 50", "-", None, "pull scenario did not run"))
        rows.append(_target("Ingest rate", ">= 200 events/s", "-", None, "pull scenario did not run"))

    if _ok(lat) and lat.get("median_s") is not None:
        med = lat["median_s"]
        note = (
            f"p90 {lat['p90_s']:.2f} s, p99 {lat['p99_s']:.2f} s, max {lat['max_s']:.2f} s over {len(lat['delays_s'])}"
        )
        note += f" changes; {lat['missed']} missed"
        rows.append(_target("Notification-to-record delay (median)", "<= 2 s", f"{med:.2f} s", med <= 2, note))
    else:
        rows.append(
            _target("Notification-to-record delay (median)", "<= 2 s", "-", None, "latency scenario did not run")
        )

    for key, label in (("push", "Push"), ("pull", "Pull")):
        a, b = results.get(key), results.get("msc_" + key)
        if _ok(a) and _ok(b):
            req = _ratio(b["total"]["graph"]["http"], a["total"]["graph"]["http"])
            wall = _ratio(b["total"]["wall_s"], a["total"]["wall_s"])
            req_note = f"{b['total']['graph']['http']} vs {a['total']['graph']['http']} HTTP requests" + (
                "" if req is None or req >= 10 else f"; {10 / req:.1f}x short of the goal"
            )
            if key == "pull":
                req_note += (
                    f"; events per delta request: ours {a['events'] / a['total']['graph']['http']:.1f},"
                    f" microsoft_calendar {b['events'] / b['total']['graph']['http']:.1f}"
                )
            rows.append(
                _target(
                    f"{label}: fewer Graph requests than microsoft_calendar",
                    ">= 10x",
                    _f(req, 1, "x"),
                    req is not None and req >= 10,
                    req_note,
                )
            )
            wall_note = f"{b['total']['wall_s']:.2f} s vs {a['total']['wall_s']:.2f} s"
            if wall is not None and wall < 3:
                wall_note += f"; {3 / wall:.1f}x short of the goal"
                if key == "pull":
                    ours_kept, theirs_kept = _kept(a), _kept(b)
                    wall_note += (
                        f"; Odoo records made: ours {ours_kept:,}, microsoft_calendar {theirs_kept:,};"
                        f" Odoo CPU {_per_thousand(a['total']['odoo_cpu_s'], ours_kept)} vs"
                        f" {_per_thousand(b['total']['odoo_cpu_s'], theirs_kept)} ms per record, and"
                        f" {_share(a['total']['odoo_cpu_s'], a['total']['wall_s'])} vs"
                        f" {_share(b['total']['odoo_cpu_s'], b['total']['wall_s'])} of the wall time"
                    )
            rows.append(
                _target(
                    f"{label}: less wall time than microsoft_calendar",
                    ">= 3x",
                    _f(wall, 1, "x"),
                    wall is not None and wall >= 3,
                    wall_note,
                )
            )
        else:
            rows.append(
                _target(
                    f"{label}: vs microsoft_calendar",
                    ">= 10x requests, >= 3x wall time",
                    "-",
                    None,
                    "one side did not run",
                )
            )

    pairs = [(results.get(k), results.get("msc_" + k)) for k in ("push", "pull")]
    if all(_ok(a) and _ok(b) for a, b in pairs):
        ours_req = sum(a["total"]["graph"]["http"] for a, _b in pairs)
        theirs_req = sum(b["total"]["graph"]["http"] for _a, b in pairs)
        ours_wall = sum(a["total"]["wall_s"] for a, _b in pairs)
        theirs_wall = sum(b["total"]["wall_s"] for _a, b in pairs)
        req, wall = _ratio(theirs_req, ours_req), _ratio(theirs_wall, ours_wall)
        rows.append(
            _target(
                "Push + pull: fewer Graph requests than microsoft_calendar",
                ">= 10x",
                _f(req, 1, "x"),
                req is not None and req >= 10,
                f"{theirs_req} vs {ours_req} HTTP requests",
            )
        )
        rows.append(
            _target(
                "Push + pull: less wall time than microsoft_calendar",
                ">= 3x",
                _f(wall, 1, "x"),
                wall is not None and wall >= 3,
                f"{theirs_wall:.2f} s vs {ours_wall:.2f} s",
            )
        )

    return "\n".join(rows)


def details(results):
    out = []
    push = results.get("push")
    if _ok(push):
        out.append("### Push by phase (o365_calendar_sync)\n")
        out.append(
            "Saving = the users' transactions (each change commits on its own and only queues the change);"
            " pushing = the push job (`push_due` of engine/pusher.py, as its cron runs it).\n"
        )
        out.append("| Phase | Wall time | Odoo CPU | SQL queries | Graph HTTP requests | Graph operations |")
        out.append("|---|---:|---:|---:|---:|---:|")
        for phase, m in push["phases"].items():
            out.append(
                f"| {phase.replace('_', ' ')} | {_f(m['wall_s'], 2, ' s')} | {_f(m['odoo_cpu_s'], 2, ' s')} | "
                f"{_f(m['sql_queries'])} | {_f(m['graph']['http'])} | {_f(m['graph']['operations'])} |"
            )
        out.append("")
        out.append(
            f"A user's save waited {push['save_wall_s'] / push['changes'] * 1000:.1f} ms per change on average"
            " (no Graph call in the user's transaction)."
        )
        msc = results.get("msc_push")
        if _ok(msc):
            out.append(
                f" With microsoft_calendar a save waited {msc['total']['wall_s'] / msc['changes'] * 1000:.1f} ms per"
                " change on average: its Graph call runs in the post-commit hook of the user's own request."
            )
        out.append("")
    for name in ("push", "msc_push", "pull", "msc_pull", "latency"):
        r = results.get(name)
        if _ok(r):
            eps = ", ".join(f"`{k}` {v}" for k, v in sorted(r["total"]["graph"]["by_endpoint"].items()))
            stats = ", ".join(f"{k}: {v}" for k, v in sorted(r["total"]["graph"]["statuses"].items()))
            out.append(
                f"- **{SCENARIO_TITLES[name]}**: {r.get('verification', '')}. Graph requests by endpoint: {eps}."
                f" Statuses (operations): {stats}. Identity-platform requests: {r['total']['graph']['login']}."
            )
    lat = results.get("latency")
    if _ok(lat) and lat["delays_s"]:
        d = lat["delays_s"]
        out.append(
            f"- **Latency distribution**: min {min(d):.3f} s, mean {statistics.mean(d):.3f} s,"
            f" median {lat['median_s']:.3f} s, p90 {lat['p90_s']:.3f} s, p99 {lat['p99_s']:.3f} s,"
            f" max {lat['max_s']:.3f} s. {lat['cpu_note']}."
        )
    return "\n".join(out)


def records_written(results):
    """How many Odoo records each engine's pull wrote in this run, when both ran."""
    ours, theirs = results.get("pull"), results.get("msc_pull")
    if not (_ok(ours) and _ok(theirs)):
        return ""
    return (
        f": from the same {ours['events']:,} Outlook events, its pull wrote {_kept(theirs):,} Odoo records"
        f" and this module's {_kept(ours):,}"
    )


def dated_notes(path, finished, level):
    """The hand-written notes of ``path`` (lines of REPORT.md), under a heading that says they are notes
    written by hand, not figures of this run, and whether they are about the run this report shows."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        text = f.read().strip()
    about = NOTES_RUN.search(text.split("\n", 1)[0])
    if about and about.group(1) == finished:
        heading = f"{level} Notes written by hand about this run (not generated from it)"
    else:
        heading = (
            f"{level} Notes written by hand about an earlier run"
            f" ({about.group(1) if about else 'date not given'}), not the one above: re-check them"
        )
    return ["", heading, "", text, ""]


def write_markdown(path, results, meta, chart_name):
    latency_ms = meta["latency_ms"]
    failures = [
        f"- `{name}`: {(r or {}).get('error') or (r or {}).get('reason') or 'not run'}"
        for name, r in results.items()
        # Engine scenarios left out of this run keep their own section, from their own run.
        if not _ok(r) and not (name.startswith("engine_") and (r or {}).get("status") == "skipped")
    ]
    text = f"""# Benchmarks: o365_calendar_sync vs Odoo's microsoft_calendar

Generated {meta["finished"]} by one run of:

```
{meta["command"]}
```

Every figure below was measured by that run; nothing is estimated or carried over.
Raw numbers: `bench/out/*.json` (not kept in git); logs: `bench/out/*.log`.

## Machine

| | |
|---|---|
| CPU | {meta["cpu_model"]} |
| Cores | {meta["cores"]} |
| RAM | {meta["ram_gb"]:.1f} GB |
| OS | {meta["os"]} |
| Python / Odoo / PostgreSQL | {meta["python"]} / {meta["odoo"]} / {meta["postgres"]} |
| Load average (1 min) at start / end | {meta["load_start"]:.2f} / {meta["load_end"]:.2f} |
| Total run time | {meta["run_seconds"]:.0f} s |

## How it is measured

- **Graph**: the project's Graph emulator (`graph_emulator`, HTTPS, started inside each scenario process) with a
  latency fault rule of **{latency_ms} ms on every Graph round trip** (`add_fault(kind="latency")`). A `$batch`
  is one round trip: it is delayed once, and the requests inside it are not delayed one by one.
- **Graph HTTP requests** are the app's HTTP requests to `/v1.0` in the emulator's request log (a `$batch` counts
  once); **Graph operations** count each `$batch` item. Requests made "as the user in Outlook" to set a scenario up
  are not counted, nor are identity-platform requests (token, discovery), listed separately under Details.
- **Odoo**: real Odoo 18 on PostgreSQL, databases `{meta["db_ours"]}` (this module, `--without-demo=all`) and
  `{meta["db_msc"]}` (Odoo's `microsoft_calendar`, same options). Every user change is its own committed
  transaction as that user; jobs run as their crons run them.
- **Odoo CPU** is the CPU time of the threads doing Odoo work (`time.thread_time`), which leaves out the emulator's
  threads; for the latency scenario it is the CPU of the `odoo-bin` server process (HTTP and cron threads).
- **SQL queries** is Odoo's own counter `odoo.sql_db.sql_counter` (every `cr.execute`).
- **Peak memory** is `ru_maxrss` of the scenario's process, which includes the in-process emulator and its mailboxes
  (each scenario runs in a fresh process); for the latency scenario, that of the `odoo-bin` process.
- **microsoft_calendar** is driven unmodified: its endpoint constants
  (`DEFAULT_MICROSOFT_GRAPH_ENDPOINT`, `_TOKEN_ENDPOINT`, `_AUTH_ENDPOINT`, and the `preuri` default captured by
  `MicrosoftService._do_request`) point at the emulator in the benchmark process only, `REQUESTS_CA_BUNDLE` is the
  emulator's CA, and the user's tokens come from the emulator through MSAL and are stored in
  `microsoft_calendar_token` (+ validity) and `microsoft_calendar_rtoken`. Pushes happen the way it does them, in the
  post-commit hook of each change; the pull is `res.users._sync_microsoft_calendar()` as its cron calls it.
- Change mix for push: 50 % creates, 30 % edits of created records, 20 % deletes of created records; each phase is
  pushed before the next starts, so no change is coalesced away.

## Results

{main_table(results)}

## Side by side (same machine, same run)

{side_by_side(results)}

{per_unit(results)}

Same work, not identical records: this module pushes **activities** (`mail.activity`, its push engine) and logs only
Outlook meetings with a matching contact; `microsoft_calendar` pushes **calendar events** and imports every Outlook
event{records_written(results)}.

## Targets

{targets(results, latency_ms)}

![Benchmark chart]({chart_name})

## Details

{details(results)}
{chr(10).join(dated_notes(REPORT_NOTES, meta["finished"], "##"))}
"""
    if failures:
        text += "\n## Not run or failed\n\n" + "\n".join(failures) + "\n"
    with open(path, "w") as f:
        f.write(text)


def with_engine_results(results, engine_results):
    """The run's results, with the last engine run's in place of engine scenarios this run left out (the
    chart's engine panel)."""
    merged = dict(results)
    for name, result in engine_results.items():
        if merged.get(name, {}).get("status") == "skipped":
            merged[name] = result
    return merged


def write_chart(path, results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    ours_color, theirs_color = "#2a7ab9", "#c0504d"

    def pair(ax, metric, title, ylabel, log=False):
        labels, ours, theirs = [], [], []
        for key in ("push", "pull"):
            a, b = results.get(key), results.get("msc_" + key)
            if _ok(a) and _ok(b):
                labels.append(key)
                ours.append(metric(a["total"]))
                theirs.append(metric(b["total"]))
        if not labels:
            ax.text(0.5, 0.5, "not run", ha="center", va="center")
            ax.set_title(title)
            return
        x = range(len(labels))
        bars1 = ax.bar([i - 0.2 for i in x], ours, 0.4, label="o365_calendar_sync", color=ours_color)
        bars2 = ax.bar([i + 0.2 for i in x], theirs, 0.4, label="microsoft_calendar", color=theirs_color)
        ax.bar_label(bars1, fmt="%.3g")
        ax.bar_label(bars2, fmt="%.3g")
        ax.set_xticks(list(x), labels)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.legend()

    pair(axes[0][0], lambda m: m["graph"]["http"], "Graph HTTP requests (same work)", "requests", log=True)
    pair(axes[0][1], lambda m: m["wall_s"], "Wall time (same work)", "seconds")

    ax = axes[1][0]
    lat = results.get("latency")
    if _ok(lat) and lat["delays_s"]:
        d = sorted(lat["delays_s"])
        ax.plot([i / len(d) * 100 for i in range(1, len(d) + 1)], d, color=ours_color)
        ax.axhline(2.0, color="grey", linestyle="--", label="target median 2 s")
        ax.set_title(f"Outlook change to Odoo record ({len(d)} changes)")
        ax.set_xlabel("percentile")
        ax.set_ylabel("seconds")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "latency: not run", ha="center", va="center")

    ax = axes[1][1]
    engine = results.get("engine_push")
    layouts = [(k, v) for k, v in ((engine or {}).get("configs") or {}).items() if v.get("mailboxes_per_s")]
    if layouts:
        bars = ax.bar([k for k, _v in layouts], [v["mailboxes_per_s"] for _k, v in layouts], color=ours_color)
        ax.bar_label(bars, fmt="%.3g")
        ax.axhline(ENGINE_TARGET_PER_S, color="grey", linestyle="--", label=f"target {ENGINE_TARGET_PER_S}/s")
        ax.set_title(f"Engine push on odoo-bin servers: {layouts[0][1]['mailboxes']:,} mailboxes (a@N: N)")
        ax.set_ylabel("mailboxes / s")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "engine push: not run", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- engine benchmark on real odoo-bin servers (bench/engine.py) --------------------------------

ENGINE_TARGET_PER_S = 60
ENGINE_PULL_P99_S = 10
ENGINE_BEGIN = "<!-- engine:begin (written by bench/report.py from bench/out/engine_*.json) -->"
ENGINE_END = "<!-- engine:end -->"


def _verdict(met):
    return "not measured" if met is None else ("**met**" if met else "**missed**")


def _engine_rows(result, key, extra):
    rows = []
    base = (result.get("configs", {}).get("a") or {}).get(key)
    for name, c in result.get("configs", {}).items():
        if "error" in c and "seconds" not in c:
            rows.append(f"| {name} | {c.get('label', '')} | failed: {c['error'][:150]} |" + " |" * (6 + len(extra)))
            continue
        rate = c.get(key)
        graph = c.get("graph", {})
        logs = c.get("server_logs", {})
        cpu = c.get("cpu_s", {})
        finished = c.get("finished")
        cells = [
            name,
            c.get("label", ""),
            _f(c.get("seconds"), 1, " s")
            + ("" if finished else " (gave up: no progress)" if c.get("stalled") else " (timed out)"),
            f"**{rate:.1f}**" if rate else "-",
            _f(_ratio(rate, base), 2, "x") if name != "a" and "@" not in name and rate and base else "-",
            f"{c.get('missing', '-')} / {c.get('doubled', '-')}",
            *[fn(c) for fn in extra],
            f"{_f(graph.get('http'))} / {_f(graph.get('throttled_429'))}",
            f"{_f(cpu.get('odoo'), 0, ' s')} / {_f(cpu.get('emulator'), 0, ' s')}",
            f"{logs.get('cron_worker_timeouts', 0)} / {logs.get('serialization_failures', 0)}"
            f" / {logs.get('deadlocks', 0)} / {logs.get('errors', 0)}",
        ]
        rows.append("| " + " | ".join(str(x) for x in cells) + " |")
    return rows


def _seconds(every):
    """'15 minutes' -> 900 (ir.cron interval)."""
    number, unit = every.split()
    factor = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400, "months": 30 * 86400}.get(unit, 1)
    return int(number) * factor


ENGINE_ORG_REQUESTS_PER_CHANGE = 0.1


def _org_rows(mode, result):
    rows = []
    for name, c in ((result or {}).get("configs") or {}).items():
        if "error" in c and "seconds" not in c:
            rows.append(f"| {mode} | {name} | failed: {c['error'][:150]} |" + " |" * 9)
            continue
        g, settled = c.get("graph") or {}, c.get("graph_settled") or {}
        grants = ", ".join(f"{k} {v}" for k, v in (g.get("token_requests_by_grant") or {}).items()) or "0"
        finished = c.get("finished")
        cpu = c.get("cpu_s") or {}
        cells = [
            mode,
            name,
            _f(c.get("changes") or c.get("mailboxes")),
            _f(c.get("seconds"), 1, " s") + ("" if finished else " (not finished)"),
            f"**{c['mailboxes_per_s']:.1f}**" if c.get("mailboxes_per_s") else "-",
            f"{c.get('missing', '-')} / {c.get('doubled', '-')} / {c.get('wrong_mailbox', '-')}",
            f"{_f(g.get('http'))} ({_f(g.get('batches'))} `$batch`)",
            f"{_f(g.get('identity'))} (token: {grants})",
            f"**{_f(c.get('requests_per_change'), 3)}**",
            _f(c.get("requests_per_change_settled"), 3),
            # Items per $batch: the operations that were not HTTP requests of their own.
            _f((g["operations"] - (g["http"] - g["batches"])) / g["batches"] if g.get("batches") else None, 1),
            f"{_f(g.get('throttled_429'))} / {_f(settled.get('throttled_429'))}",
            f"{_f(cpu.get('odoo'), 0, ' s')} / {_f(cpu.get('emulator'), 0, ' s')}",
        ]
        rows.append("| " + " | ".join(str(x) for x in cells) + " |")
    return rows


def _endpoints(graph):
    items = list(((graph or {}).get("by_endpoint") or {}).items())[:6]
    return ", ".join(f"`{k}` {v:,}" for k, v in items) or "no requests"


def org_section(push, org):
    """Push with the organisation-wide connection (SPEC O1, O2) beside the per-user push of the same run."""
    if not org or not org.get("meta"):
        return []
    meta, setup = org["meta"], org.get("setup") or {}
    same_run = bool(push and push.get("meta") and push["meta"].get("started") == meta.get("started"))
    n = meta.get("mailboxes")
    lines = [
        f"### Push with the organisation-wide connection (SPEC O1, O2): {n:,} mailboxes, one change each",
        "",
        "`engine_push_org`: the same push as above, on its own database (a copy of the same template) and its own"
        " emulator process (same latency), with the setting `connection_mode` = organization, an application"
        " registered in the emulator with the application permissions"
        f" {', '.join(setup.get('granted_roles') or []) or '?'} and admin consent granted, tenant"
        f" `{setup.get('tenant', '?')}`. Setup, not measured: {n:,} users, their accounts written through the ORM as"
        " the organisation connects them (`connected_by` = organization, the emulator mailbox's UPN, no token"
        " cache), Start Syncing with the button's method (no sign-in in this mode), a setup server making the"
        f" subscriptions and first pulls with the application's token ({_f(setup.get('seconds'), 0, ' s')},"
        f" state {setup.get('accounts')}). **Requests per change** = every request the emulator served for Odoo"
        " from the commit of the save until the queue was empty (Graph HTTP requests, a `$batch` counted once,"
        " plus identity-platform requests: token, discovery) / changes. *Settled* adds what came after, until"
        " nothing waited: mostly the pull reading back, per mailbox, the change notifications that the pushed"
        " events caused. Missing / doubled / wrong mailbox: each mailbox read back from the emulator must hold"
        " exactly one event of the run, and it must be its own user's change.",
        "",
    ]
    if not same_run:
        lines += [
            "*The per-user rows come from another run* ("
            + ((push or {}).get("meta") or {}).get("command", "none")
            + "); run both scenarios in one command to compare.",
            "",
        ]
    lines += [
        "| Mode | Layout | Changes | Time | Mailboxes/s | Missing / doubled / wrong mailbox | Graph HTTP"
        " | Identity requests | Requests per change | Settled | Changes per `$batch` | 429 (push / settled)"
        " | Odoo CPU / emulator CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += _org_rows("per-user sign-in", push) + _org_rows("organisation", org)
    lines.append("")
    ours = ((org.get("configs") or {}).get("a") or next(iter((org.get("configs") or {}).values()), {})) or {}
    theirs = (((push or {}).get("configs") or {}).get("a")) or {}
    rpc, upc = ours.get("requests_per_change"), theirs.get("requests_per_change")
    verdict = _verdict(None if rpc is None else bool(rpc <= ENGINE_ORG_REQUESTS_PER_CHANGE and ours.get("verified")))
    for mode, result in (("per-user", push), ("organisation", org)):
        for name, c in ((result or {}).get("configs") or {}).items():
            g, settled = c.get("graph") or {}, c.get("graph_settled") or {}
            times = g.get("token_request_times") or []
            spread = f", within {times[-1] - times[0]:.2f} s of each other" if len(times) > 1 else ""
            identity = g.get("identity_by_endpoint")
            lines.append(
                f"- **{mode} {name}**: during the push {_endpoints(g)}; identity platform"
                f" {'(' + _endpoints({'by_endpoint': identity}) + ') ' if identity else ''}"
                f"{g.get('identity', 0)} requests, of them {g.get('token_requests', 0)} token requests{spread};"
                f" settled (until nothing waited) {_endpoints(settled)}."
            )
    if setup:
        sg = setup.get("graph") or {}
        lines.append(
            f"- **organisation setup**: {_endpoints(sg)}; token requests {sg.get('token_requests_by_grant')};"
            f" `POST /subscriptions` answered 429 {setup.get('subscribe_429', 0)} times; subscriptions still missing"
            " when nothing else waited, each time the benchmark then ran the module's renewal cron"
            f" (`ir_cron_o365_renew_subscriptions`): {setup.get('missing_subscriptions_at_renew_nudges') or 'none'}."
        )
    lines.append("")
    lines += [
        "| Target | Goal | Measured | Verdict |",
        "|---|---|---|---|",
        f"| Organisation mode: Graph requests per change, one change in each of {n:,} mailboxes"
        f" | <= {ENGINE_ORG_REQUESTS_PER_CHANGE} | {_f(rpc, 3)} (per-user: {_f(upc, 3)};"
        f" organisation / per-user {_f(_ratio(rpc, upc), 3, 'x')}) | {verdict} |",
        f"| Every change lands exactly once, in its own mailbox | 0 / 0 / 0 |"
        f" {ours.get('missing', '-')} / {ours.get('doubled', '-')} / {ours.get('wrong_mailbox', '-')}"
        f" | {_verdict(None if not ours else bool(ours.get('verified')))} |",
        "",
    ]
    return lines


def engine_section(push, pull, idle, org=None):
    """The engine benchmark's section of REPORT.md, from the scenario results of one run of bench/engine.py."""
    run = next((r for r in (push, pull, idle, org) if r and r.get("meta")), None)
    if not run:
        return ""
    meta = run["meta"]
    module = meta.get("module", {})
    dirty = module.get("uncommitted_module_files") or []
    module_text = f"`{module.get('commit', '?')}`" + (
        f" plus uncommitted changes in {', '.join(f'`{x}`' for x in dirty[:12])}" + (" ..." if len(dirty) > 12 else "")
        if dirty
        else ""
    )
    if module.get("snapshot_hash"):
        module_text += f" (code copied at the start of the run; hash of its module files `{module['snapshot_hash']}`)"
    n = meta.get("mailboxes")
    full = meta.get("full_size") or 0
    connected = f"{max(n, full):,} connected, syncing mailboxes" + (
        f" (the layouts change {n:,} of them, the others stay connected and idle; the row `a@{full}` changes all"
        f" {full:,}, on layout a, later in the same run)"
        if full
        else ""
    )
    lines = [
        ENGINE_BEGIN,
        "## Engine on real odoo-bin servers (issue 12, SPEC E1, E3, E6)",
        "",
        f"Generated {meta.get('finished')} by one run of:",
        "",
        "```",
        meta.get("command", ""),
        "```",
        "",
        f"Module measured: commit {module_text}. {connected};"
        f" **{meta.get('latency_ms')} ms added to every Graph round trip**. Setup (not measured) took"
        f" {_f(meta.get('setup_s'), 0, ' s')}"
        + (
            f"; the setup server's pull cron was re-triggered {meta['setup_pull_nudges']} times while requests"
            " waited and it was not running (Start Syncing left work it did not wake itself up for)."
            if meta.get("setup_pull_nudges")
            else "."
        ),
        "",
        f"Machine: {meta.get('cpu_model')}, **{meta.get('cores')} cores**, {meta.get('ram_gb')} GB RAM. The Graph"
        " emulator, PostgreSQL, the Odoo servers and the benchmark itself share these cores (load average"
        f" {meta.get('load_start', 0):.2f} at start, {meta.get('load_end', 0):.2f} at end; a start above 1 means"
        " other work ran on the machine too): figures are lower than on a dedicated server.",
        "",
        "How it is measured (`bench/engine.py`): the emulator runs in its own process (`python -m graph_emulator`,"
        " loopback, temporary `--data-dir`); the servers are real `odoo-bin` processes started by the benchmark"
        " (prefork: HTTP workers and cron worker processes) on one database, and only **Odoo's own cron runner**"
        " runs the push and pull jobs; nothing calls a job method. Setup, not measured: users created in batches,"
        " each connected through the real OAuth code flow against the emulator and started with the Start Syncing"
        " button's method; a setup server creates the webhook subscriptions and first pulls; then the latency rule is"
        " added. **Push**: one new activity per user, all created in one transaction; measured from the commit of"
        " that save until the queue table `o365_push_queue` is empty, then every mailbox is read back from the"
        " emulator for exactly one event of the run (missing when the phase ended / doubled). A phase ends when"
        " done, or when nothing progressed for 200 s (`--stall`). **Pull**: one new Outlook meeting with a"
        " matching contact in each mailbox, made as the user through the emulator (each one what the user's own"
        " POST does; how, per layout below); Graph's change"
        " notifications go to the first server's controller (`public_base_url`); measured from the first Outlook"
        " change until every meeting is logged in Odoo (`o365_event_link` + its `calendar.event`, polled every"
        " 0.2 s), and per meeting from its Outlook change (when the emulator answered the request that made it; the"
        " notification was queued when the event was created and is sent within the emulator's 50 ms batching"
        " window) to the record being visible in the database. Layouts: **a** one"
        " server `--workers=2 --max-cron-threads=1`, **b** one server `--workers=2 --max-cron-threads=2`, **c** two"
        " servers (two ports, same database) each `--workers=2 --max-cron-threads=1`; a suffix `30` means"
        " `--limit-time-real-cron=30` (otherwise Odoo's default, `limit_time_real` = 120 s).",
        "",
    ]
    columns = (
        "| Layout | Servers | Time | {unit} | vs a | Missing at end / doubled |{extra} Graph HTTP / 429"
        " | Odoo CPU / emulator CPU | cron timeouts / serialization / deadlocks / ERROR lines |"
    )
    if push and push.get("configs"):
        lines += [
            f"### Push: {n:,} mailboxes, one change each" + (f" (and {full:,} in `a@{full}`)" if full else ""),
            "",
        ]
        lines.append(columns.format(unit="Mailboxes/s", extra=" Last event in Outlook |"))
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        lines += _engine_rows(push, "mailboxes_per_s", [lambda c: _f(c.get("last_create_after_s"), 1, " s")])
        lines.append("")
    if pull and pull.get("configs"):
        lines += [
            f"### Pull: {n:,} mailboxes, one Outlook change each, through change notifications"
            + (f" (and {full:,} in `a@{full}`)" if full else ""),
            "",
        ]
        lines.append(columns.format(unit="Accounts/s", extra=" Delay p50 / p99 / max |"))
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        lines += _engine_rows(
            pull,
            "accounts_per_s",
            [
                lambda c: (
                    f"{_f(c.get('delay_p50_s'), 1)} / {_f(c.get('delay_p99_s'), 1)} / {_f(c.get('delay_max_s'), 1)} s"
                )
            ],
        )
        lines.append("")
    lines += org_section(push, org)
    lines += ["### Targets (issue 12)", "", "| Target | Goal | Measured | Verdict |", "|---|---|---|---|"]

    def conf(result, name):
        return ((result or {}).get("configs") or {}).get(name) or {}

    a = conf(push, "a")
    rate = a.get("mailboxes_per_s")
    lines.append(
        f"| Push, one server (a) | >= {ENGINE_TARGET_PER_S} mailboxes/s | {_f(rate, 1, ' mailboxes/s')} |"
        f" {_verdict(None if not a else bool(rate and rate >= ENGINE_TARGET_PER_S and a.get('verified')))} |"
    )
    for other, what in (("b", "a second cron thread (b/a)"), ("c", "a second server (c/a)")):
        ratio = (push or {}).get(f"{other}_over_a")
        lines.append(
            f"| Push, gain from {what} | > 1x (stated as a ratio) | {_f(ratio, 2, 'x')} |"
            f" {_verdict(None if ratio is None else ratio > 1.1)} |"
        )
    pa = conf(pull, "a")
    prate, p99 = pa.get("accounts_per_s"), pa.get("delay_p99_s")
    lines.append(
        f"| Pull, one server (a) | >= {ENGINE_TARGET_PER_S} accounts/s | {_f(prate, 1, ' accounts/s')} |"
        f" {_verdict(None if not pa else bool(prate and prate >= ENGINE_TARGET_PER_S and pa.get('verified')))} |"
    )
    lines.append(
        f"| Pull, notification-to-record delay p99 (a) | <= {ENGINE_PULL_P99_S} s | {_f(p99, 1, ' s')} |"
        f" {_verdict(None if p99 is None else p99 <= ENGINE_PULL_P99_S and pa.get('finished'))} |"
    )
    for other, what in (("b", "second cron thread (b/a)"), ("c", "second server (c/a)")):
        ratio = (pull or {}).get(f"{other}_over_a")
        verdict = _verdict(None if ratio is None else ratio > 1.1)
        lines.append(f"| Pull, gain from a {what} | > 1x (stated as a ratio) | {_f(ratio, 2, 'x')} | {verdict} |")
    limited = [
        (kind, name, c)
        for kind, r in (("push", push), ("pull", pull))
        for name, c in ((r or {}).get("configs") or {}).items()
        if name.split("@")[0][1:]
    ]
    if limited:
        ok = all(c.get("verified") for _k, _n, c in limited)
        text = "; ".join(
            f"{kind} {name}: {'finished' if c.get('finished') else 'NOT finished'},"
            f" missing at end {c.get('missing', '?')}, doubled {c.get('doubled', '?')}"
            for kind, name, c in limited
        )
        lines.append(f"| Cron time limit 30 s | still finish, nothing lost | {text} | {_verdict(ok)} |")
    else:
        lines.append("| Cron time limit 30 s | still finish, nothing lost | - | not measured |")
    size, layout = (full, f"a@{full}") if full else (n, "a")
    if size and size >= 10000:
        for kind, r in (("Push", push), ("Pull", pull)):
            c = conf(r, layout)
            sec = c.get("seconds")
            exact = f", missing {c.get('missing', '?')} / doubled {c.get('doubled', '?')}" if c else ""
            lines.append(
                f"| {kind} {size:,} mailboxes, one server (`{layout}`) | within 3 minutes | {_f(sec, 0, ' s')}{exact} |"
                f" {_verdict(None if not c else bool(c.get('finished') and c.get('verified') and sec <= 180))} |"
            )
    else:
        lines.append("| 10,000 mailboxes each way | within 3 minutes | not run at this size | not measured |")
    if idle and idle.get("status") == "ok":
        per = idle["requests_per_mailbox_per_day"]
        renewals = idle.get("renewals_per_mailbox_per_day_computed")
        safety = [_seconds(c["every"]) for c in idle.get("crons", []) if c.get("active") and "pull" in c["xmlid"]]
        short = bool(safety) and idle["window_s"] < max(safety)
        window = f"{idle['window_s'] / 60:.1f} min x {idle['mailboxes']:,} mailboxes"
        if renewals is None:
            measured, total = f"{per:.1f} (extrapolated from {window})", per
        else:
            total = per + renewals
            measured = (
                f"{total:.1f}: {per:.1f} measured (pulls and sign-in, extrapolated from {window}, last pulls spread"
                f" as in a steady state) + {renewals:.2f} subscription renewals (computed)"
            )
        verdict = (
            "inconclusive: the window is shorter than the safety-net pull's period" if short else _verdict(total <= 10)
        )
        lines.append(f"| Graph requests per idle mailbox per day | a handful | {measured} | {verdict} |")
    else:
        lines.append("| Graph requests per idle mailbox per day | a handful | - | not measured |")
    lines.append("")
    lines += issue26_targets(push, pull, full)
    lines += ["### Details", ""]
    for kind, r in (("Push", push), ("Pull", pull)):
        for name, c in ((r or {}).get("configs") or {}).items():
            g = c.get("graph") or {}
            eps = ", ".join(f"`{k}` {v}" for k, v in list((g.get("by_endpoint") or {}).items())[:8])
            extra = ""
            if kind == "Pull" and c.get("notifications"):
                nt = c["notifications"]
                extra = (
                    f" Notifications: {nt['posts']} POSTs carrying {nt['items']} items, {nt['failed_attempts']} failed"
                    f" attempts, slowest answer {_f(nt.get('slowest_answer_s'), 2, ' s')}; the Outlook changes took"
                    f" {_f(c.get('changes_made_in_s'), 1, ' s')} to make (through"
                    f" {c.get('changes_made_through') or '`$batch` of 20, act-as'})."
                )
            logs = c.get("server_logs") or {}
            lines.append(
                f"- **{kind} {name}**: Graph requests by endpoint: {eps or '-'}; operations {g.get('operations', '-')},"
                f" token requests {g.get('token_requests', '-')}, most in flight for one mailbox"
                f" {g.get('max_concurrent_per_mailbox', '-')}; cron job runs logged {logs.get('cron_job_runs', '-')},"
                f" notifications for unknown subscriptions {logs.get('notifications_for_unknown_subscriptions', 0)}."
                + extra
                + (
                    ""
                    if c.get("quiet_before", True)
                    else " Work of the previous phase was still waiting when this phase started (bounded wait)."
                )
                + (f" Error: {c['error']}" if c.get("error") else "")
                + (f" First log errors: {' / '.join(logs['samples'][:2])}" if logs.get("samples") else "")
            )
    if idle and idle.get("status") == "ok":
        g = idle["graph"]
        eps = ", ".join(f"`{k}` {v}" for k, v in list(g["by_endpoint"].items())[:8])
        crons = ", ".join(f"{c['name']} every {c['every']}" for c in idle.get("crons", []) if c.get("active"))
        lines.append(
            f"- **Idle**: {idle['mailboxes']} connected, syncing mailboxes on layout a for"
            f" {idle['window_s'] / 60:.1f} minutes, nothing changed: {idle['graph_http']} Graph HTTP requests"
            f" ({eps or 'none'}) and {idle['identity_requests']} identity-platform requests; per mailbox and day ="
            f" requests / mailboxes x 86,400 s / window."
            + (
                f" Before the window, the last pull of each of the {idle['last_pulls_spread']:,} subscribed accounts"
                " was spread at random over its safety-net period (6 hours plus up to an hour, by account), as it is"
                " in a steady state; right after the benchmark's own phases every mailbox was pulled within the hour"
                " and the window would see none. Subscription renewals (the renewal cron runs every 6 hours) are"
                " computed from the module's constants instead: a 70-hour subscription renewed once it has less"
                " than 36 hours left."
                if idle.get("last_pulls_spread")
                else " A periodic job whose period is longer than the window is not seen by this measurement."
            )
            + f" The module's crons: {crons}."
        )
    if idle and idle.get("meta") and idle["meta"].get("command") != meta.get("command"):
        im = idle["meta"]
        imod = im.get("module", {})
        lines.append(
            f"- **The idle figures come from a separate run** ({im.get('finished')}, module `{imod.get('commit')}`"
            f"{' plus uncommitted changes' if imod.get('uncommitted_module_files') else ''}, hash"
            f" `{imod.get('snapshot_hash', '?')}`): `{im.get('command')}`."
        )
    lines += dated_notes(ENGINE_NOTES, meta.get("finished"), "###")
    lines += [
        "",
        "Raw numbers: `bench/out/engine_push.json`, `engine_pull.json`, `engine_idle.json`, `engine_push_org.json`.",
        ENGINE_END,
        "",
    ]
    return "\n".join(lines)


def _delta_reads(graph):
    """Delta reads in a Graph summary (/me for users' sign-ins, /users/{id} for the organisation's app)."""
    return sum(n for k, n in ((graph or {}).get("by_endpoint") or {}).items() if k.endswith("/calendarView/delta"))


def _odoo_ms(config, items_key):
    """Odoo CPU per item of a layout's phase, in ms (the servers' processes: controller and crons)."""
    cpu, items = (config.get("cpu_s") or {}).get("odoo"), config.get(items_key)
    return cpu / items * 1000 if cpu is not None and items else None


def issue26_targets(push, pull, full):
    """Issue 26's targets: Odoo CPU per item, throughput, delay, and no read-back of Odoo's own writes."""
    pushes = (push or {}).get("configs") or {}
    pulls = (pull or {}).get("configs") or {}
    a, pa = pushes.get("a") or {}, pulls.get("a") or {}
    lines = ["### Targets (issue 26)", "", "| Target | Goal | Measured | Verdict |", "|---|---|---|---|"]
    ms = _odoo_ms(pa, "changes")
    lines.append(
        f"| Pull: Odoo CPU per logged meeting, the notification controller included (a) | <= 10 ms |"
        f" {_f(ms, 1, ' ms')} | {_verdict(None if ms is None else ms <= 10)} |"
    )
    rate, p99 = pa.get("accounts_per_s"), pa.get("delay_p99_s")
    lines.append(
        f"| Pull: accounts per second (a) | >= 60 | {_f(rate, 1)} |"
        f" {_verdict(None if not pa else bool(rate and rate >= 60 and pa.get('verified')))} |"
    )
    lines.append(
        f"| Pull: notification to record, p99 (a) | <= 10 s | {_f(p99, 1, ' s')} |"
        f" {_verdict(None if p99 is None else p99 <= 10)} |"
    )
    echoes = {name: _delta_reads(c.get("graph_settled")) for name, c in pushes.items()}
    lines.append(
        "| Push: delta reads of Odoo's own writes, until nothing waits, every layout | 0 | "
        + (", ".join(f"{name}: {count:,}" for name, count in echoes.items()) or "-")
        + f" | {_verdict(None if not echoes else not any(echoes.values()))} |"
    )
    ms = _odoo_ms(a, "changes")
    lines.append(
        f"| Push: Odoo CPU per pushed change (a) | <= 8 ms | {_f(ms, 1, ' ms')} |"
        f" {_verdict(None if ms is None else ms <= 8)} |"
    )
    rate = a.get("mailboxes_per_s")
    lines.append(
        f"| Push: mailboxes per second (a) | >= 100 | {_f(rate, 1)} |"
        f" {_verdict(None if not a else bool(rate and rate >= 100 and a.get('verified')))} |"
    )
    for other in ("b", "c"):
        ratio = (push or {}).get(f"{other}_over_a")
        lines.append(
            f"| Push: layout {other} at least as fast as a | >= 1x | {_f(ratio, 2, 'x')} |"
            f" {_verdict(None if ratio is None else ratio >= 1)} |"
        )
    if full:
        for kind, configs, items in (("Push", pushes, "changes"), ("Pull", pulls, "changes")):
            c = configs.get(f"a@{full}") or {}
            lines.append(
                f"| {kind}: Odoo CPU per item at {full:,} mailboxes (`a@{full}`) | as at 2,000 |"
                f" {_f(_odoo_ms(c, items), 1, ' ms')} | stated |"
            )
    lines.append("")
    return lines


def load_engine_results(out_dir):
    found = {}
    for name in ("engine_push", "engine_pull", "engine_idle", "engine_push_org"):
        path = os.path.join(out_dir, f"{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                found[name] = json.load(f)
    return found


def update_engine_section(report_path, engine_results):
    """Put the engine section into REPORT.md in place (the rest of the report is left as it is)."""
    section = engine_section(
        engine_results.get("engine_push"),
        engine_results.get("engine_pull"),
        engine_results.get("engine_idle"),
        engine_results.get("engine_push_org"),
    )
    if not section:
        return False
    text = ""
    if os.path.exists(report_path):
        with open(report_path) as f:
            text = f.read()
    if ENGINE_BEGIN in text and ENGINE_END in text:
        head, rest = text.split(ENGINE_BEGIN, 1)
        tail = rest.split(ENGINE_END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(report_path, "w") as f:
        f.write(text)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description="Rewrite REPORT.md and report.png from a run's results.json.")
    parser.add_argument("results", help="bench/out/results.json of the run (or bench/out with --engine-only)")
    parser.add_argument("--report-dir", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument(
        "--engine-only",
        action="store_true",
        help="only rewrite the engine section, from the engine_*.json files in the given folder",
    )
    args = parser.parse_args(argv)
    if args.engine_only:
        folder = args.results if os.path.isdir(args.results) else os.path.dirname(os.path.abspath(args.results))
        update_engine_section(os.path.join(args.report_dir, "REPORT.md"), load_engine_results(folder))
        return
    with open(args.results) as f:
        run = json.load(f)
    engine_results = load_engine_results(os.path.dirname(os.path.abspath(args.results)))
    write_chart(os.path.join(args.report_dir, "report.png"), with_engine_results(run["results"], engine_results))
    write_markdown(os.path.join(args.report_dir, "REPORT.md"), run["results"], run["meta"], "report.png")
    update_engine_section(os.path.join(args.report_dir, "REPORT.md"), engine_results)


if __name__ == "__main__":
    main()
