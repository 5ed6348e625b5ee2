"""Every requirement id and every "GRAPH_FACTS §N" the project cites is defined in doc/.

Code, tests, data files and READMEs cite requirements by id ("SPEC E3", "B7: ...",
"A10-A15") and Graph/MSAL facts by section ("GRAPH_FACTS §3.2", "[§7.3.5]"). The ids are
defined in doc/REQUIREMENTS.md (one bullet each, ``- **E3** ...``), the sections in
doc/GRAPH_FACTS.md (one heading each, ``### 3.2 ...``). This check lists every
citation that resolves to nothing, with file and line, and exits 1 if there is one.
It also lists the requirements nobody cites, as information. Plain Python, no Odoo:
tools/test.sh runs it with the linters.

    python tools/check_citations.py
"""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "doc" / "REQUIREMENTS.md"
FACTS = REPO / "doc" / "GRAPH_FACTS.md"

# A requirement id: its group's letter and a number (S1, A16, E7, O2).
REQUIREMENT_ID = re.compile(r"(?<![\w.-])([SABCEO]\d{1,2})(?![\w])")
# A facts section: "§3", "§7.3.5"; in the code it reads "GRAPH_FACTS §3", in graph_emulator/README.md "[§3]".
FACTS_SECTION = re.compile(r"(?:§|\b[Ff]acts )\s?(\d+(?:\.\d+)*)")
# A numbered part of a requirement, "A16 item 5": defined as a bullet of its own, ``- **A16 item 5** ...``.
REQUIREMENT_ITEM = re.compile(r"(?<![\w.-])([SABCEO]\d{1,2} item \d+)(?![\w])")
DEFINED_ID = re.compile(r"^\s*[-*] \*\*([SABCEO]\d{1,2}(?: item \d+)?)\*\*", re.MULTILINE)
DEFINED_SECTION = re.compile(r"^#{1,6} (\d+(?:\.\d+)*)\.? ", re.MULTILINE)

# Files that cite nothing of their own: the definitions themselves, translations (they repeat
# the code's strings, checked there) and this file's examples. Configuration files (.toml,
# .ini) are not read: "C4" is a ruff rule there.
SKIPPED = ("doc/", "i18n/", "tools/check_citations.py")
TEXT_SUFFIXES = {".py", ".xml", ".js", ".rst", ".md", ".sql", ".sh", ".csv", ".html", ".txt"}
# Words that look like an id and are not one: test data. Keep this short; prefer rewording.
NOT_CITATIONS = {
    ("graph_emulator/tests/test_delta.py", "E0"),  # the subject "E0 edited" of the emulator's delta test
}


def tracked_files():
    """The repository's files (git's list when there is one, else every file under REPO)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
        names = out.splitlines()
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file() and ".git" not in p.parts]
    return sorted(n for n in names if Path(n).suffix in TEXT_SUFFIXES and not n.startswith(SKIPPED))


def citations(names):
    """(kind, cited, file, line) for every requirement id and facts section cited in ``names``."""
    for name in names:
        path = REPO / name
        if not path.is_file():  # listed by git but deleted in the work tree
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for cited in REQUIREMENT_ID.findall(line) + REQUIREMENT_ITEM.findall(line):
                if (name, cited) not in NOT_CITATIONS:
                    yield "requirement", cited, name, number
            for cited in FACTS_SECTION.findall(line):
                yield "facts section", cited, name, number


def main():
    defined = {
        "requirement": set(DEFINED_ID.findall(REQUIREMENTS.read_text(encoding="utf-8"))),
        "facts section": set(DEFINED_SECTION.findall(FACTS.read_text(encoding="utf-8"))),
    }
    missing, cited = [], set()
    for kind, what, name, number in citations(tracked_files()):
        if kind == "requirement":
            cited.add(what)
        if what not in defined[kind]:
            missing.append(f"{name}:{number}: {kind} {what} is not defined in doc/")
    uncited = sorted(defined["requirement"] - cited, key=lambda i: (i[0], int(i[1:].split()[0]), i))
    if uncited:
        print(f"requirements no file cites (information): {', '.join(uncited)}")
    if missing:
        print("\n".join(missing))
        print(
            f"{len(missing)} citation(s) resolve to nothing: define the id in {REQUIREMENTS.relative_to(REPO)} "
            f"(``- **X9** ...``) or the section in {FACTS.relative_to(REPO)} (``### 9.9 ...``), or fix the citation."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
