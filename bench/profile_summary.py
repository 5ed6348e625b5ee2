"""Summarise py-spy profiles in collapsed-stack form (``py-spy record --format raw``), as ``python -m bench.engine
--profile-dir`` writes them.

    python -m bench.profile_summary FILE [FILE...] [--top 25] [--filter o365_calendar_sync]

Each line of a raw profile is one distinct stack and how many samples had it: ``frame;frame;...;frame COUNT``,
outermost frame first. With ``--subprocesses`` each stack starts with ``process PID:"command line"`` frames (the
process tree down to the sampled process; a command line may itself hold ``;``), with ``--threads`` a
``thread (TID): name`` frame follows, then the Python frames, ``function (file:line)`` (``function (file)`` with
``--nolineno``). Functions are counted by name and file, whatever the line.

Printed: (a) the samples, per file, per sampled process and per thread (when the profile has thread frames);
(b) the top functions by inclusive samples (a function counted once per stack, however often it recurs); (c) by
self samples (the leaf); (d) with ``--filter``, the top functions whose file path holds that text, by inclusive
samples. Percentages are of all the samples of the files: py-spy leaves out the samples of idle threads (waiting
in select, poll, sleep, a lock, a socket) unless recorded with ``--idle``, and the benchmark records without it, so
every sample counts a thread on CPU (time spent waiting for PostgreSQL or Graph is not in the profile). The raw
format does not mark idle samples: a profile recorded with ``--idle`` counts its waiting threads as if they ran."""

import argparse
import collections
import re
import sys
from dataclasses import dataclass

_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_PROCESS = re.compile(r'^process (?P<pid>\d+):"(?P<command>.*)"$', re.S)
_THREAD = re.compile(r"^thread \((?P<tid>[^)]*)\)(?::\s*(?P<name>.*))?$")


@dataclass(frozen=True)
class Stack:
    processes: tuple  # ((pid, command), ...), outermost first; the last one is the sampled process
    thread: str | None  # "TID name" when recorded with --threads
    frames: tuple  # ((function, file), ...), outermost first
    count: int

    @property
    def process(self):
        return self.processes[-1] if self.processes else None

    @property
    def leaf(self):
        return self.frames[-1] if self.frames else None


def split_frames(text):
    """Split a stack on ``;``, keeping the ``;`` inside a process frame's quoted command line."""
    parts, current = [], None
    for piece in text.split(";"):
        if current is not None:
            current += ";" + piece
            if current.endswith('"'):
                parts.append(current)
                current = None
            continue
        if piece.startswith("process ") and ':"' in piece and not (piece.endswith('"') and piece.count('"') >= 2):
            current = piece
            continue
        parts.append(piece)
    if current is not None:
        parts.append(current)
    return parts


def parse_frame(text):
    """(function, file) of a Python frame; the file is "" when the frame names none."""
    m = _FRAME.match(text)
    return (m.group("name"), m.group("file")) if m else (text, "")


def parse(text):
    """The stacks of one raw profile (blank and malformed lines are skipped)."""
    stacks = []
    for line in text.splitlines():
        line = line.rstrip()
        stack_text, _, count = line.rpartition(" ")
        if not stack_text or not count.isdigit():
            continue
        processes, thread, frames = [], None, []
        for part in split_frames(stack_text):
            m = _PROCESS.match(part)
            if m and not frames and thread is None:
                processes.append((int(m.group("pid")), m.group("command")))
                continue
            m = _THREAD.match(part)
            if m and not frames:
                thread = f"{m.group('tid')} {m.group('name') or ''}".strip()
                continue
            frames.append(parse_frame(part))
        stacks.append(Stack(tuple(processes), thread, tuple(frames), int(count)))
    return stacks


def summarize(stacks, top=25, filter_text=None):
    total = sum(s.count for s in stacks)
    inclusive, self_, filtered = collections.Counter(), collections.Counter(), collections.Counter()
    per_process, per_thread = collections.Counter(), collections.Counter()
    commands, depth = {}, {}
    in_filter = 0
    for s in stacks:
        for key in set(s.frames):
            inclusive[key] += s.count
            if filter_text and filter_text in key[1]:
                filtered[key] += s.count
        if s.leaf:
            self_[s.leaf] += s.count
        if filter_text and any(filter_text in f for _n, f in s.frames):
            in_filter += s.count
        if s.process:
            per_process[s.process[0]] += s.count
            commands[s.process[0]] = s.process[1]
            depth[s.process[0]] = len(s.processes)
        if s.thread is not None:
            per_thread[((s.process or (None,))[0], s.thread)] += s.count
    return {
        "samples": total,
        "processes": [
            {"pid": pid, "depth": depth[pid], "command": commands[pid], "samples": n}
            for pid, n in per_process.most_common()
        ],
        "threads": [{"pid": pid, "thread": t, "samples": n} for (pid, t), n in per_thread.most_common(top)],
        "inclusive": inclusive.most_common(top),
        "self": self_.most_common(top),
        "filter": filter_text,
        "filter_samples": in_filter,
        "filtered": filtered.most_common(top),
    }


def _pct(n, whole):
    return f"{100.0 * n / whole:5.1f}%" if whole else "    -"


def _tail(text, width):
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def _where(key, width=90):
    name, path = key
    return _tail(f"{name} ({path})" if path else name, width)


def format_summary(summary, files=()):
    active = summary["samples"]
    out = []
    for name, samples in files:
        out.append(f"{name}: {samples} samples")
    out.append(f"samples: {active} (threads on CPU; percentages below are of these)")
    if summary["processes"]:
        out += ["", "samples per sampled process (depth 1: the pid py-spy was given, a server's master; 2: workers):"]
        for p in summary["processes"]:
            out.append(
                f"  {p['samples']:8d} {_pct(p['samples'], active)}  pid {p['pid']:<8} depth {p['depth']}"
                f"  {_tail(p['command'], 60)}"
            )
    if summary["threads"]:
        out += ["", "samples per thread:"]
        for t in summary["threads"]:
            out.append(f"  {t['samples']:8d} {_pct(t['samples'], active)}  pid {t['pid']} thread {t['thread']}")
    for title, rows in (
        ("top functions by inclusive samples (once per stack)", summary["inclusive"]),
        ("top functions by self samples", summary["self"]),
    ):
        out += ["", f"{title}:"]
        out += [f"  {n:8d} {_pct(n, active)}  {_where(key)}" for key, n in rows]
    if summary["filter"]:
        out += [
            "",
            f"frames in files matching {summary['filter']!r}: {summary['filter_samples']} samples"
            f" ({_pct(summary['filter_samples'], active).strip()}) have at least one; top by inclusive samples:",
        ]
        out += [f"  {n:8d} {_pct(n, active)}  {_where(key)}" for key, n in summary["filtered"]]
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.profile_summary", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", metavar="FILE", help="py-spy raw (collapsed-stack) profiles")
    p.add_argument("--top", type=int, default=25, help="rows per table (default 25)")
    p.add_argument("--filter", default=None, help="also list the top frames whose file path contains this text")
    args = p.parse_args(argv)
    stacks, files = [], []
    for path in args.files:
        with open(path, errors="replace") as f:
            parsed = parse(f.read())
        files.append((path, sum(s.count for s in parsed)))
        stacks += parsed
    print(format_summary(summarize(stacks, args.top, args.filter), files if len(files) > 1 else ()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
