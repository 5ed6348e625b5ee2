"""Run the benchmark scenarios, one process each, and write bench/REPORT.md and bench/report.png.

Called by tools/bench.sh (which prepares the environment and the databases);
``--help`` lists the sizes, whose defaults are the full benchmark.
"""

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime

from . import report

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
ORDER = (
    "push",
    "msc_push",
    "pull",
    "msc_pull",
    "latency",
    "engine_push",
    "engine_pull",
    "engine_idle",
    "engine_push_org",
)
ENGINE = ("engine_push", "engine_pull", "engine_idle", "engine_push_org")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="tools/bench.sh",
        description=__doc__,
        epilog="tools/bench.sh also takes --reuse-db (keep the benchmark databases instead of rebuilding them);"
        " the databases are named by O365_BENCH_DB (o365_bench_o365) and O365_BENCH_MSC_DB (o365_bench_msc).",
    )
    parser.add_argument("--changes", type=int, default=1000, help="push: changes of one user (default 1000)")
    parser.add_argument("--events", type=int, default=1000, help="pull: new Outlook events (default 1000)")
    parser.add_argument("--latency-samples", type=int, default=200, help="latency: Outlook changes (default 200)")
    parser.add_argument(
        "--mailboxes", type=int, default=2000, help="engine_*: connected mailboxes, one change each (default 2000)"
    )
    parser.add_argument(
        "--configs",
        default="a,b,c,a30",
        help="engine_push/engine_pull server layouts (default a,b,c,a30; see python -m bench.engine --help)",
    )
    parser.add_argument(
        "--full-size",
        type=int,
        default=0,
        help="engine_push/engine_pull: connect this many mailboxes, run the layouts on --mailboxes of them, then"
        " layout a once more with a change in every one (the full-size row; default: off)",
    )
    parser.add_argument("--idle-minutes", type=float, default=5.0, help="engine_idle: idle window (default 5)")
    parser.add_argument(
        "--engine-latency-ms",
        type=int,
        default=100,
        help="engine_*: latency added to every Graph request (default 100)",
    )
    parser.add_argument(
        "--profile-dir",
        default=None,
        help="engine_push/engine_pull: py-spy profiles of the servers during each measured phase, written here"
        " (see python -m bench.engine --help; summarise with python -m bench.profile_summary)",
    )
    parser.add_argument("--reuse-db", action="store_true", help=argparse.SUPPRESS)  # from tools/bench.sh
    parser.add_argument("--latency-ms", type=int, default=50, help="latency added to every Graph request (default 50)")
    parser.add_argument(
        "--only", default=",".join(ORDER), help=f"comma-separated scenarios to run (default all: {','.join(ORDER)})"
    )
    # Set by tools/bench.sh, which prepares these databases.
    parser.add_argument("--db", default="o365_bench_o365", help=argparse.SUPPRESS)
    parser.add_argument("--db-msc", default="o365_bench_msc", help=argparse.SUPPRESS)
    parser.add_argument("--db-engine", default="o365_bench_engine", help=argparse.SUPPRESS)
    parser.add_argument("--report-dir", default=BENCH_DIR, help="where REPORT.md and report.png go (default bench/)")
    parser.add_argument("--command", default=None, help=argparse.SUPPRESS)  # the command line, from tools/bench.sh
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(ORDER)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}: choose among {', '.join(ORDER)}")
    return args


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = 0.0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    ram = int(line.split()[1]) / 2**20
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def versions(db):
    import odoo.release

    pg = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        pg = subprocess.run(
            ["psql", "-d", db, "-Atc", "SHOW server_version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    return odoo.release.version, pg


def run_scenario(name, args, out_dir):
    out = os.path.join(out_dir, f"{name}.json")
    log = os.path.join(out_dir, f"{name}.log")
    if os.path.exists(out):
        os.remove(out)
    command = [
        sys.executable,
        "-m",
        "bench.scenario",
        name,
        "--db",
        args.db_msc if name.startswith("msc_") else args.db,
        "--out",
        out,
        f"--latency-ms={args.latency_ms}",
        f"--changes={args.changes}",
        f"--events={args.events}",
        f"--latency-samples={args.latency_samples}",
    ]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    started = time.perf_counter()
    with open(log, "w") as f:
        code = subprocess.run(command, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT, check=False).returncode
    seconds = time.perf_counter() - started
    try:
        with open(out) as f:
            result = json.load(f)
    except (OSError, ValueError):
        result = {"status": "failed", "error": f"the scenario process exited with {code} and wrote no result"}
    if code and result.get("status") == "ok":
        result = {"status": "failed", "error": f"the scenario process exited with {code}"}
    if result.get("status") != "ok":
        result.setdefault("error", "failed")
        result["error"] += f" (log: {os.path.relpath(log, REPO)})"
    result["process_seconds"] = seconds
    return result


def run_engine(names, args, out_dir):
    """The engine scenarios share one setup (users, connections, servers): one bench.engine process runs them."""
    log = os.path.join(out_dir, "engine.log")
    command = [
        sys.executable,
        "-m",
        "bench.engine",
        f"--db={args.db_engine}",
        "--only",
        ",".join(names),
        f"--mailboxes={args.mailboxes}",
        f"--configs={args.configs}",
        f"--full-size={args.full_size}",
        f"--idle-minutes={args.idle_minutes}",
        f"--latency-ms={args.engine_latency_ms}",
        f"--out-dir={out_dir}",
        "--command",
        args.command or "python -m bench.run " + " ".join(sys.argv[1:]),
    ]
    if args.reuse_db:
        command.append("--reuse-db")
    if args.profile_dir:
        command.append(f"--profile-dir={os.path.abspath(args.profile_dir)}")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    for name in names:
        with contextlib.suppress(OSError):
            os.remove(os.path.join(out_dir, f"{name}.json"))
    started = time.perf_counter()
    with open(log, "w") as f:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for line in process.stdout:
            f.write(line)
            if line.startswith("[engine"):
                print(line, end="", flush=True)
        code = process.wait()
    results = {}
    for name in names:
        try:
            with open(os.path.join(out_dir, f"{name}.json")) as f:
                results[name] = json.load(f)
        except (OSError, ValueError):
            results[name] = {"status": "failed", "error": f"bench.engine exited with {code} and wrote no result"}
        if results[name].get("status") != "ok":
            results[name].setdefault("error", "failed")
            results[name]["error"] += f" (log: {os.path.relpath(log, REPO)})"
        results[name]["process_seconds"] = time.perf_counter() - started
    return results


def summary_line(name, r):
    if r.get("status") != "ok":
        return f"{name:9} FAILED: {r.get('error', '')[:200]}"
    if name in ENGINE:
        if name == "engine_idle":
            return f"{name} {r['requests_per_mailbox_per_day']:.1f} requests per idle mailbox per day"
        key = "accounts_per_s" if name == "engine_pull" else "mailboxes_per_s"
        rates = ", ".join(
            f"{c}={v.get(key) or 0:.1f}/s{'' if v.get('verified') else ' (NOT verified)'}"
            + (f" {v['requests_per_change']:.3f} requests/change" if v.get("requests_per_change") is not None else "")
            for c, v in r["configs"].items()
        )
        return f"{name} {rates}; b/a={r.get('b_over_a') or 0:.2f} c/a={r.get('c_over_a') or 0:.2f}"
    m = r.get("total") or r.get("two_workers")
    text = (
        f"{name:9} graph={m['graph']['http']:>6} wall={m['wall_s']:8.2f}s cpu={m['odoo_cpu_s']:7.2f}s "
        f"sql={m['sql_queries']:>7} rss={m['peak_rss_mb']:6.0f}MB verified={r.get('verified')}"
    )
    if name == "latency" and r.get("median_s") is not None:
        text += f" median={r['median_s']:.3f}s p99={r['p99_s']:.3f}s"
    elif name == "latency":
        text += f" {r.get('verification')}"
    return text


def main(argv=None):
    args = parse_args(argv)
    out_dir = os.path.join(BENCH_DIR, "out")
    os.makedirs(out_dir, exist_ok=True)
    meta = machine()
    meta.update(
        command=args.command or " ".join(["tools/bench.sh", *(argv if argv is not None else sys.argv[1:])]),
        latency_ms=args.latency_ms,
        db_ours=args.db,
        db_msc=args.db_msc,
        load_start=os.getloadavg()[0],
    )
    meta["odoo"], meta["postgres"] = versions(args.db)
    print(
        f"[bench] machine: {meta['cpu_model']}, {meta['cores']} cores, {meta['ram_gb']:.1f} GB RAM;"
        f" Odoo {meta['odoo']}, PostgreSQL {meta['postgres']}; Graph latency {args.latency_ms} ms",
        flush=True,
    )
    started = time.time()
    results = {}
    for name in ORDER:
        if name not in args.only:
            results[name] = {"status": "skipped", "reason": "not run: left out with --only"}
            continue
        if name in ENGINE:
            continue
        print(f"[bench] {name} ...", flush=True)
        results[name] = run_scenario(name, args, out_dir)
        print("[bench] " + summary_line(name, results[name]), flush=True)
    engine = [n for n in ENGINE if n in args.only]
    if engine:
        print(f"[bench] {', '.join(engine)} (real odoo-bin servers) ...", flush=True)
        results.update(run_engine(engine, args, out_dir))
        for name in engine:
            print("[bench] " + summary_line(name, results[name]), flush=True)
    meta["load_end"] = os.getloadavg()[0]
    meta["run_seconds"] = time.time() - started
    meta["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if any(n in args.only for n in ORDER if n not in ENGINE):
        # An engine-only run keeps the last full run's results.json (its results are in engine_*.json).
        with open(os.path.join(out_dir, "results.json"), "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1, default=str)
    os.makedirs(args.report_dir, exist_ok=True)
    report_path = os.path.join(args.report_dir, "REPORT.md")
    engine_results = report.load_engine_results(out_dir)
    if any(n in args.only for n in ORDER if n not in ENGINE):
        charted = report.with_engine_results(results, engine_results)
        report.write_chart(os.path.join(args.report_dir, "report.png"), charted)
        report.write_markdown(report_path, results, meta, "report.png")
        print(f"[bench] wrote {report_path} and report.png")
    # The engine section is kept in place (from the last engine run's JSON) when only other scenarios ran.
    if report.update_engine_section(report_path, engine_results):
        print(f"[bench] wrote the engine section of {report_path}")
    failed = [n for n in args.only if results[n].get("status") != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
