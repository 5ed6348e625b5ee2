"""Run ONE benchmark scenario in this process and write its numbers as JSON.

Started by bench/run.py (one process per scenario, so peak memory is the
scenario's own): ``python -m bench.scenario NAME --db DB --out FILE [sizes]``.
"""

import argparse
import os
import sys
import tempfile

from .common import boot_odoo, configure_module, quiesce_module_db, scenario_output, start_emulator

OURS = ("push", "pull", "latency")
THEIRS = ("msc_push", "msc_pull")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", choices=OURS + THEIRS)
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--latency-samples", type=int, default=200)
    args = parser.parse_args(argv)

    registry = boot_odoo(args.db)
    import odoo

    odoo.netsvc.init_logger()
    emu = start_emulator(args.latency_ms)
    workdir = tempfile.mkdtemp(prefix=f"o365-bench-{args.name}-")
    try:
        with scenario_output(args.out) as out:
            out.update(scenario=args.name, db=args.db, latency_ms=args.latency_ms, pid=os.getpid())
            if args.name in OURS:
                from . import scenarios_o365 as ours

                quiesce_module_db(registry)
                configure_module(registry, emu)
                if args.name == "push":
                    ours.scenario_push(registry, emu, out, args.changes)
                elif args.name == "pull":
                    ours.scenario_pull(registry, emu, out, args.events)
                else:
                    ours.scenario_latency(
                        registry,
                        emu,
                        out,
                        args.latency_samples,
                        workdir,
                        lambda **kw: configure_module(registry, emu, **kw),
                    )
            else:
                from . import scenarios_msc as theirs

                theirs.point_microsoft_calendar_at(emu)
                theirs.configure_microsoft_calendar(registry)
                if args.name == "msc_push":
                    theirs.scenario_msc_push(registry, emu, out, args.changes)
                else:
                    theirs.scenario_msc_pull(registry, emu, out, args.events)
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
