"""bench.profile_summary on a hand-made py-spy raw profile (collapsed stacks)."""

from bench import profile_summary

MASTER = 'process 100:"/venv/bin/python odoo-bin -c /tmp/odoo.conf --workers=2"'
WORKER = 'process 101:"/venv/bin/python odoo-bin -c /tmp/odoo.conf --workers=2"'
ODD = 'process 200:"python -c import time; time.sleep(4)"'
MOD = "/tmp/w/addons/o365_calendar_sync"
RAW = f"""\
{MASTER};{WORKER};run (odoo/service/server.py:1200);_run_job (odoo/addons/base/models/ir_cron.py:90);pull (\
{MOD}/engine/importer.py:40);ingest ({MOD}/engine/pull_pages.py:12);execute (odoo/sql_db.py:330) 7
{MASTER};{WORKER};run (odoo/service/server.py:1200);_run_job (odoo/addons/base/models/ir_cron.py:90);pull (\
{MOD}/engine/importer.py:41);pull ({MOD}/engine/importer.py:55) 3
{MASTER};run (odoo/service/server.py:1180);process_spawn (odoo/service/server.py:950) 4

not a profile line
{ODD};thread (0x7f01): MainThread;<module> (<string>:1);busy (<string>) 2
"""


def test_parse_processes_threads_and_frames():
    stacks = profile_summary.parse(RAW)
    assert [s.count for s in stacks] == [7, 3, 4, 2]
    assert [pid for pid, _c in stacks[0].processes] == [100, 101] and stacks[0].process[0] == 101
    assert stacks[2].process[0] == 100 and stacks[2].thread is None
    # A ';' inside a quoted command line does not split the frame; the thread frame is read apart.
    assert stacks[3].processes == ((200, "python -c import time; time.sleep(4)"),)
    assert stacks[3].thread == "0x7f01 MainThread"
    assert stacks[3].frames == (("<module>", "<string>"), ("busy", "<string>"))
    assert stacks[0].leaf == ("execute", "odoo/sql_db.py")  # line numbers dropped


def test_summary_counts():
    summary = profile_summary.summarize(profile_summary.parse(RAW), top=10, filter_text="o365_calendar_sync")
    assert summary["samples"] == 16
    processes = [(p["pid"], p["depth"], p["samples"]) for p in summary["processes"]]
    assert processes == [(101, 2, 10), (100, 1, 4), (200, 1, 2)]
    assert summary["threads"] == [{"pid": 200, "thread": "0x7f01 MainThread", "samples": 2}]
    inclusive = dict(summary["inclusive"])
    assert inclusive[("run", "odoo/service/server.py")] == 14  # 7 + 3 + 4, whatever the line
    # A function recurring in one stack counts once for that stack: 7 + 3, not 7 + 3 + 3.
    assert inclusive[("pull", f"{MOD}/engine/importer.py")] == 10
    assert summary["inclusive"][0] == (("run", "odoo/service/server.py"), 14)
    assert dict(summary["self"]) == {
        ("execute", "odoo/sql_db.py"): 7,
        ("process_spawn", "odoo/service/server.py"): 4,
        ("pull", f"{MOD}/engine/importer.py"): 3,
        ("busy", "<string>"): 2,
    }
    assert summary["filter_samples"] == 10
    assert summary["filtered"] == [
        (("pull", f"{MOD}/engine/importer.py"), 10),
        (("ingest", f"{MOD}/engine/pull_pages.py"), 7),
    ]


def test_top_and_text():
    summary = profile_summary.summarize(profile_summary.parse(RAW), top=2, filter_text="o365_calendar_sync")
    assert len(summary["inclusive"]) == 2 and len(summary["self"]) == 2
    text = profile_summary.format_summary(summary, files=[("engine_pull_a.txt", 16)])
    assert "engine_pull_a.txt: 16 samples" in text
    assert "      14  87.5%  run (odoo/service/server.py)" in text
    assert "frames in files matching 'o365_calendar_sync': 10 samples (62.5%)" in text


def test_main_reads_files(tmp_path, capsys):
    one, two = tmp_path / "engine_push_c_s1.txt", tmp_path / "engine_push_c_s2.txt"
    one.write_text(RAW)
    two.write_text(RAW)
    assert profile_summary.main([str(one), str(two), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert f"{one}: 16 samples" in out and "samples: 32 (threads on CPU" in out
    assert "      28  87.5%  run (odoo/service/server.py)" in out
