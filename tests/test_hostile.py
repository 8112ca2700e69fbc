"""The hostile-input corpus: every broken or malicious project gets a located diagnostic, never a traceback.

Each directory under ``tests/hostile/`` is one case: a few project files (``cards/*.yaml`` and,
when the case needs them, overrides of ``sources/``, ``templates/``, ``deckgen.yaml`` or
``deckgen.lock``) and an ``expected.yaml``:

    description: what is wrong with the project
    command: check | build
    exit: 0 | 1 | 2
    diagnostics:                      # each must be reported with this code, file and line
      - {code: yaml-syntax, file: cards/cards.yaml, line: 3, message_contains: "..."}
    setup: [...]                      # optional: removals, symlinks, generated files (see SETUP)
    skip_if_root: reason              # optional: the case cannot hold for root
    build_args: [--split]             # optional: more arguments for build
    packages: 3                       # optional: how many packages a successful build writes (1)
    absent: [path, ...]               # optional: files the run must not create
    secret: text                      # optional: text from outside the project that must not leak
    known_bug: reason                 # optional, on a diagnostic: its line is known to be wrong
    xfail: reason                     # optional: the case fails because of a known bug (strict)

The test copies the repository's real ``sources/`` and ``templates/`` into a temporary project,
lays the case over it and runs the real command line in a subprocess. A ``check`` case runs
``check --format json`` and then ``build``; a ``build`` case runs ``build``. Every run must:

- exit with the expected status, and print no traceback;
- report every expected diagnostic at its file and line, and no error that is not expected
  (warnings that are not listed are allowed);
- locate every diagnostic inside its file (a line that exists), one line per message;
- leave the user's files (cards, sources, templates, settings, ledger) byte-identical, with
  their modification times;
- write nothing when it fails, and leave no temporary files behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import copy_project

CASES = Path(__file__).parent / "hostile"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "expected.yaml").is_file())
LOCATED = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning|note): (?P<message>.*) "
    r"\[(?P<code>[a-z0-9-]+)\]$",
    re.M,
)
USER_FILES = ("cards", "sources", "templates", "deckgen.yaml", "deckgen.lock")
COMMANDS = {"check", "build"}
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}

FACT = """  - id: {id}
    type: fact
    front: What had changed Stalin's mind, according to Kotkin?
    back: Japan
    evidence: Secretly, however, Stalin had embarked on energetic steps. Japan had changed his mind.
"""
HEAD = "theme: Hostile\nsource: kotkin-1932\ncards:\n"


# -- generated inputs (too large, or too odd, to commit) -----------------------------------------

def _deep_nesting(path: Path, depth: int) -> None:
    with path.open("ab") as handle:
        handle.write(b"[" * depth + b"]" * depth + b"\n")


def _long_quote(path: Path, chars: int) -> None:
    words = ("the quick brown fox jumps over the lazy dog " * (chars // 44 + 1))[:chars].strip()
    text = HEAD + f"  - id: long-quote\n    type: quote\n    speaker: Stephen Kotkin\n    quote: {words}\n"
    path.write_text(text, encoding="utf-8")


def _long_note(path: Path, chars: int) -> None:
    note = ("a very long note pasted from a web page " * (chars // 40 + 1))[:chars].strip()
    text = (HEAD + FACT.format(id="x-1") + f"    note: {note}\n"
            + FACT.format(id="x-2").replace("front:", "frnt:"))
    path.write_text(text, encoding="utf-8")


def _huge_file(path: Path, cards: int) -> None:
    """``cards`` fact cards of five lines each after the three-line header; the last one misspells
    `front`, so its error stands on line 3 + 6 * (cards - 1) + 3."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEAD)
        body = FACT.replace("front: What", "front: Card {n}, what")
        for n in range(cards - 1):
            handle.write(body.format(id=f"card-{n}", n=n) + "    note: " + "padding text " * 20 + "\n")
        handle.write(FACT.format(id="last").replace("front:", "frnt:"))


def _sparse(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        handle.truncate(size)


class _Pwn:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _hostile_cache(path: Path) -> None:
    """Fill the project's cache with a real run's entries, then replace every one with entries
    whose header is valid but whose pickle would run a command, and add some garbage."""
    import pickle
    import zlib

    from deckgen import cache

    project = path.parent
    done = subprocess.run([sys.executable, "-m", "deckgen", "check", ".", "--quiet"], cwd=project, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    entries = [p for p in path.rglob("*") if p.is_file() and re.fullmatch(r"[0-9a-f]{64}", p.name)]
    assert entries, "the cache holds no entries to poison"
    payload = pickle.dumps(_Pwn())
    for entry in entries:
        header = cache._MAGIC + zlib.crc32(payload).to_bytes(4, "little") + bytes.fromhex(entry.name)
        entry.write_bytes(header + payload)
    for layer in {entry.parent for entry in entries}:
        (layer / ("0" * 64)).write_bytes(os.urandom(256))
        (layer / ("f" * 64)).write_bytes(b"")


GENERATORS = {
    "hostile-cache": _hostile_cache,
    "deep-nesting": _deep_nesting,
    "long-quote": _long_quote,
    "long-note": _long_note,
    "huge-file": _huge_file,
    "sparse": _sparse,
}


def _setup(project: Path, steps: list[dict]) -> None:
    for step in steps:
        if "remove" in step:
            target = project / step["remove"]
            shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
        elif "mkdir" in step:
            (project / step["mkdir"]).mkdir(parents=True)
        elif "symlink" in step:
            link = project / step["symlink"]
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(step["to"])
        elif "write" in step:
            target = project / step["write"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step["text"], encoding="utf-8")
        elif "mkfifo" in step:
            os.mkfifo(project / step["mkfifo"])
        elif "chmod" in step:
            (project / step["chmod"]).chmod(step["mode"])
        elif "generate" in step:
            options = {k: v for k, v in step.items() if k not in ("generate", "path")}
            target = project / step["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            GENERATORS[step["generate"]](target, **options)
        else:  # pragma: no cover - a mistake in a case
            raise AssertionError(f"unknown setup step {step}")


# -- what a run leaves behind ------------------------------------------------------------------

def _snapshot(project: Path) -> dict[str, tuple]:
    """Every user file: its kind, content digest (or link target) and modification time."""
    seen: dict[str, tuple] = {}
    for part in USER_FILES:
        top = project / part
        if not (top.exists() or top.is_symlink()):
            continue
        paths = [top] if not top.is_dir() or top.is_symlink() else [top, *sorted(top.rglob("*"))]
        for path in paths:
            info = path.lstat()
            rel = str(path.relative_to(project))
            if stat.S_ISLNK(info.st_mode):
                seen[rel] = ("link", os.readlink(path), info.st_mtime_ns)
            elif stat.S_ISREG(info.st_mode):
                try:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError:
                    digest = "unreadable"
                seen[rel] = ("file", digest, info.st_mtime_ns, stat.S_IMODE(info.st_mode))
            else:
                seen[rel] = ("dir",)
    return seen


def _temp_files(project: Path) -> list[str]:
    return sorted(str(p.relative_to(project)) for p in project.rglob("*.tmp")
                  if ".deckgen-cache" not in p.parts)


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"$ deckgen {' '.join(self.args)}  -> exit {self.code} in {self.seconds:.2f}s\n{self.output}"


# A hang guard, not a speed claim: a run still going after this long has hung (a named pipe read for
# ever, matching that grows with the square of a megabyte line). Every case ends in seconds.
HANG_GUARD_SECONDS = 300


def _deckgen(*args: str, cwd: Path) -> Run:
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "deckgen", *args], capture_output=True, text=True,
                              errors="replace", cwd=cwd, env=ENV, timeout=HANG_GUARD_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"deckgen {' '.join(args)} was still running after {HANG_GUARD_SECONDS} s: it hangs")
    return Run(args, done.returncode, done.stdout, done.stderr, time.perf_counter() - start)


@dataclass(frozen=True)
class Found:
    code: str
    file: str
    line: int
    col: int
    severity: str
    message: str


def _from_json(run: Run) -> list[Found]:
    payload = json.loads(run.stdout)
    assert set(payload) == {"diagnostics", "summary"}, payload
    return [Found(d["code"], d["file"], d["line"], d["col"], d["severity"], d["message"])
            for d in payload["diagnostics"]]


def _from_text(run: Run) -> list[Found]:
    return [Found(m["code"], m["file"], int(m["line"]), int(m["col"]), m["severity"], m["message"])
            for m in LOCATED.finditer(run.stderr)]


def _lines_in(project: Path, rel: str) -> int | None:
    path = project / rel
    try:
        if path.is_symlink() or not path.is_file():
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return max(1, len(data.decode("utf-8", errors="replace").splitlines()))


def _check_run(run: Run, found: list[Found], expected: dict, project: Path) -> list[str]:
    """Assert everything about one run; returns the known bugs (lines reported wrongly) it hit."""
    assert "Traceback" not in run.output, run
    assert "internal error" not in run.output, run
    assert run.code == expected["exit"], run
    if expected.get("secret"):
        assert expected["secret"] not in run.output, run
    wanted = expected.get("diagnostics") or []
    known_bugs: list[str] = []
    for want in wanted:
        same = [f for f in found if f.code == want["code"] and f.file == want["file"]]
        assert same, f"no {want['code']} in {want['file']}\n{run}"
        exact = [f for f in same if f.line == want["line"]]
        assert not (exact and want.get("known_bug")), f"fixed: remove the known_bug marker of {want}"
        if not exact and want.get("known_bug"):
            known_bugs.append(f"{want['file']}:{want['line']} [{want['code']}] reported at line(s) "
                              f"{sorted({f.line for f in same})}: {want['known_bug']}")
            exact = same
        assert exact, f"{want['code']} in {want['file']} expected on line {want['line']}, found on " \
                      f"{sorted({f.line for f in same})}\n{run}"
        if want.get("message_contains"):
            assert any(want["message_contains"] in f.message for f in exact), \
                f"no {want['code']} message contains {want['message_contains']!r}\n{run}"
    expected_errors = {(w["code"], w["file"]) for w in wanted}
    unexpected = [f for f in found if f.severity == "error" and (f.code, f.file) not in expected_errors]
    assert not unexpected, f"unexpected errors {unexpected}\n{run}"
    for f in found:
        assert "\n" not in f.message, f
        assert not Path(f.file).is_absolute(), f"diagnostic names an absolute path: {f}"
        lines = _lines_in(project, f.file)
        if lines is not None:
            assert 1 <= f.line <= lines and f.col >= 1, f"{f} is outside its file ({lines} lines)\n{run}"
    return known_bugs


def _load_expected(case: str) -> dict:
    expected = yaml.safe_load((CASES / case / "expected.yaml").read_text(encoding="utf-8"))
    assert expected["command"] in COMMANDS and expected["exit"] in (0, 1, 2), expected
    assert expected.get("description"), f"{case}: describe the case"
    return expected


def _make_project(case: str, expected: dict, tmp_path: Path) -> Path:
    project = copy_project(tmp_path / "project", parts=("sources", "templates"))
    (project / "cards").mkdir(exist_ok=True)
    for path in sorted((CASES / case).rglob("*")):
        rel = path.relative_to(CASES / case)
        if path.is_file() and rel != Path("expected.yaml"):
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, project / rel)
    _setup(project, expected.get("setup") or [])
    return project


def _case_param(case: str):
    """A case whose expected.yaml says `xfail: reason` documents a bug not fixed yet (strictly)."""
    reason = _load_expected(case).get("xfail")
    return pytest.param(case, marks=pytest.mark.xfail(reason=reason, strict=True)) if reason else case


@pytest.mark.parametrize("case", [_case_param(case) for case in CASE_NAMES])
def test_hostile_case(case: str, tmp_path: Path) -> None:
    expected = _load_expected(case)
    if expected.get("skip_if_root") and hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip(expected["skip_if_root"])
    project = _make_project(case, expected, tmp_path)
    before = _snapshot(project)
    intact = {path: (project / path).read_bytes() for path in expected.get("intact") or []}
    out = project / "dist"
    known_bugs: list[str] = []

    if expected["command"] == "check":
        run = _deckgen("check", ".", "--format", "json", cwd=project)
        known_bugs += _check_run(run, _from_json(run), expected, project)
    run = _deckgen("build", ".", "--quiet", *expected.get("build_args", []), cwd=project)
    known_bugs += _check_run(run, _from_text(run), expected, project)

    after = _snapshot(project)
    assert {k: after.get(k) for k in before} == before, "a user file was changed"
    created = set(after) - set(before)
    assert created <= ({"deckgen.lock"} if expected["exit"] == 0 else set()), f"created {created}"
    assert _temp_files(project) == [], "temporary files were left behind"
    for path in expected.get("absent") or []:
        assert not (project / path).exists(), f"{path} was created"
    for path, data in intact.items():
        assert (project / path).is_file() and (project / path).read_bytes() == data, f"{path} was changed"
    for folder, names in (expected.get("only_files") or {}).items():
        assert sorted(os.listdir(project / folder)) == sorted(names), f"{folder} was written to"
    packages = sorted(out.glob("*.apkg")) if out.is_dir() and not out.is_symlink() else []
    if expected["exit"] == 0:
        assert packages and (project / "deckgen.lock").is_file(), run
        assert len(packages) == expected.get("packages", 1), packages
    else:
        assert packages == [], f"a failed build wrote {packages}"
        if "deckgen.lock" not in before:
            assert not (project / "deckgen.lock").exists(), "a failed build wrote the ledger"
    if known_bugs:
        pytest.xfail("; ".join(known_bugs))


def test_corpus_is_large_and_every_case_is_described() -> None:
    assert len(CASE_NAMES) >= 60, len(CASE_NAMES)
    for case in CASE_NAMES:
        expected = _load_expected(case)
        for want in expected.get("diagnostics") or []:
            assert set(want) <= {"code", "file", "line", "message_contains", "known_bug"}, (case, want)
            assert isinstance(want["line"], int) and want["line"] >= 1, (case, want)


def test_corpus_covers_every_input_code() -> None:
    """Every diagnostic about a project's input has at least one case."""
    from deckgen.errorcodes import ALL_CODES

    seen = {want["code"] for case in CASE_NAMES for want in _load_expected(case).get("diagnostics") or []}
    input_codes = {code for code in ALL_CODES if code not in {
        # Judgements about content on real cards: the fidelity corpus (tests/fidelity) covers them.
        "cloze-answer-not-in-evidence", "figure-unit", "page-mismatch", "speaker-not-near", "evidence-not-found",
        "cloze-not-found", "no-project",
    }}
    assert input_codes - seen == set()
