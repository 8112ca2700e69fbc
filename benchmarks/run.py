"""Time deckgen on synthetic projects against a genanki-only baseline.

    python benchmarks/run.py                       # 5,000 and 50,000 cards, 20 MB of sources
    python benchmarks/run.py --sizes 5000 --source-mb 2
    python benchmarks/run.py --scaling             # fit time ~ N^k over cards and over source size
    python benchmarks/run.py --profile 50000       # cProfile of a cold and a warm build
    python benchmarks/run.py --stages 50000        # time of each stage, the cores it kept busy, and in one process
    python benchmarks/run.py --instructions 5000 --source-mb 2   # instructions counted by valgrind, not time

Every timing is a fresh `python -m deckgen` process (start-up included), run on
copies of a generated project under benchmarks/out/. For each size:

  cold      `deckgen build` with an empty cache (it fills the cache)
  nocache   `deckgen build --no-cache` on a second copy of the project
  warm      `deckgen build` after editing one card (cache filled by the cold build)
  check     `deckgen check --no-cache` (and `check` with the cache, warm)
  baseline  the same notes written by genanki alone (benchmarks/baseline.py), timed
            in-process from genanki's import to the written file

and the outputs are compared: the cold build must equal the no-cache build, and
the warm build after the edit must equal a no-cache build after the same edit,
byte for byte (.apkg and deckgen.lock), both starting from the same ledger.

A run starts and ends by timing a fixed pure-Python loop in a fresh process
("machine speed"): about 1.6 s on a calm 2-core machine here, and up to three
times that on a busy one. Timings taken while it is slow are slow in proportion.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

EPOCH = "1700000000"  # builds are reproducible only with a pinned clock


@dataclass
class Run:
    seconds: float
    peak_mb: float
    code: int
    stdout: str
    stderr: str


# The deckgen under test: a snapshot of src/ taken when the run starts, so that edits to the
# working tree during a run neither mix versions nor invalidate the cache between builds.
SNAPSHOT = OUT / "src-snapshot"


def snapshot_source() -> str:
    if SNAPSHOT.exists():
        shutil.rmtree(SNAPSHOT)
    shutil.copytree(HERE.parent / "src", SNAPSHOT, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    # Compiled as an installation compiles it: a process then starts as an installed deckgen does,
    # also where PYTHONDONTWRITEBYTECODE keeps Python from caching its bytecode.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(SNAPSHOT)], check=True)
    try:
        described = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=HERE.parent,
                                   capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        described = "unknown"
    return described


def run_measured(args: list[str], cwd: Path | None = None, **env_vars: str) -> Run:
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH, PYTHONPATH=str(SNAPSHOT), **env_vars)
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Read the pipes fully before reaping, so a chatty child cannot block.
    stdout = proc.stdout.read()  # type: ignore[union-attr]
    stderr = proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(seconds, usage.ru_maxrss / 1024, proc.returncode, stdout.decode(errors="replace"),
               stderr.decode(errors="replace"))


def deckgen(*args: str) -> Run:
    result = run_measured([sys.executable, "-m", "deckgen", *args])
    if result.code != 0:
        raise SystemExit(f"deckgen {' '.join(args)} failed ({result.code}):\n{result.stderr[-3000:]}")
    return result


def project(cards: int, source_mb: float, seed: int) -> Path:
    """A generated project, reused while its parameters are unchanged."""
    path = OUT / f"gen-{cards}-{source_mb:g}mb-s{seed}"
    manifest = path / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        if data.get("cards") == cards and data.get("generator") == _generator_digest():
            return path
    data = generate.generate(path, cards, source_mb, seed)
    data["generator"] = _generator_digest()
    manifest.write_text(json.dumps(data, indent=1) + "\n")
    return path


def _generator_digest() -> str:
    import hashlib

    return hashlib.sha256((HERE / "generate.py").read_bytes()).hexdigest()[:16]


def fresh_copy(src: Path, dst: Path, templates: Path | None = None) -> Path:
    """A copy of a generated project, without build products; with ``templates`` (a
    snapshot of the repository's, taken once per run) so that every build of the run
    renders with the same templates even while someone edits the repository's."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".deckgen-cache", "dist", "deckgen.lock"))
    if templates is not None:
        shutil.copytree(templates, dst / "templates")
    return dst


def templates_snapshot(work: Path) -> Path:
    snapshot = work / "templates"
    if snapshot.exists():
        shutil.rmtree(snapshot)
    shutil.copytree(HERE.parent / "templates", snapshot)
    return snapshot


def outputs(root: Path) -> dict[str, bytes]:
    files = {f"dist/{p.name}": p.read_bytes() for p in sorted((root / "dist").glob("*.apkg"))}
    files["deckgen.lock"] = (root / "deckgen.lock").read_bytes()
    return files


def same(a: Path, b: Path, what: str) -> bool:
    left, right = outputs(a), outputs(b)
    if left == right:
        return True
    differing = sorted(k for k in left.keys() | right.keys() if left.get(k) != right.get(k))
    print(f"  MISMATCH ({what}): {', '.join(differing)}", file=sys.stderr)
    return False


def edit_one_card(root: Path, edit: dict) -> None:
    path = root / edit["file"]
    text = path.read_text(encoding="utf-8")
    assert edit["old"] in text, edit
    path.write_text(text.replace(edit["old"], edit["new"], 1), encoding="utf-8")


def measure(cards: int, source_mb: float, seed: int) -> dict:
    gen = project(cards, source_mb, seed)
    manifest = json.loads((gen / "manifest.json").read_text())
    work = OUT / f"run-{cards}"
    work.mkdir(exist_ok=True)
    templates = templates_snapshot(work)
    a = fresh_copy(gen, work / "a", templates)
    b = fresh_copy(gen, work / "b", templates)
    row: dict = {"cards": cards, "source_mb": manifest["source_bytes"] / 1e6,
                 "card_mb": manifest["card_bytes"] / 1e6}

    cold = deckgen("build", str(a))
    nocache = deckgen("build", str(b), "--no-cache")
    ok_cold = same(a, b, "cold vs no-cache")
    check = deckgen("check", str(b), "--no-cache")
    check_warm = deckgen("check", str(a))

    edit_one_card(a, manifest["edit"])
    edit_one_card(b, manifest["edit"])
    warm = deckgen("build", str(a))
    nocache_edit = deckgen("build", str(b), "--no-cache")
    ok_warm = same(a, b, "warm after edit vs no-cache after edit")
    if "1 note(s) new or changed" not in warm.stdout:
        print(f"  unexpected warm build summary: {warm.stdout.strip()}", file=sys.stderr)
        ok_warm = False

    notes_json = work / "notes.json"
    run_measured([sys.executable, str(HERE / "baseline.py"), "dump", str(next((a / "dist").glob("*.apkg"))),
                  str(notes_json)])
    base = run_measured([sys.executable, str(HERE / "baseline.py"), "write", str(notes_json),
                         str(work / "baseline.apkg")])
    if base.code != 0:
        raise SystemExit(f"baseline failed:\n{base.stderr[-3000:]}")
    base_times = json.loads(base.stdout.strip().splitlines()[-1])
    baseline = base_times["genanki"]
    floor = run_measured([sys.executable, str(HERE / "baseline.py"), "floor", str(next((a / "dist").glob("*.apkg"))),
                          str(work / "floor.apkg")])
    if floor.code != 0:
        raise SystemExit(f"floor failed:\n{floor.stderr[-3000:]}")
    start = run_measured([sys.executable, "-c", "import deckgen.cli, deckgen.pipeline, deckgen.package, "
                          "deckgen.render, deckgen.validate, deckgen.progress"])
    row.update(
        cold=cold.seconds, nocache=nocache.seconds, warm=warm.seconds, check=check.seconds,
        check_warm=check_warm.seconds, nocache_edit=nocache_edit.seconds,
        baseline=baseline, baseline_process=base.seconds,
        floor=json.loads(floor.stdout.strip().splitlines()[-1]), start=start.seconds,
        peak_mb=max(r.peak_mb for r in (cold, nocache, warm, check, check_warm, nocache_edit)),
        baseline_peak_mb=base.peak_mb, identical=ok_cold and ok_warm,
    )
    return row


def fastest(runs: list[dict]) -> dict:
    """Several runs of `measure` as one: each time the fastest of its runs (this machine's load
    varies from minute to minute), each peak the largest, and the outputs the same only when they
    were the same in every run."""
    row = dict(runs[0])
    for key in ("cold", "nocache", "warm", "check", "check_warm", "nocache_edit", "baseline", "baseline_process",
                "start"):
        row[key] = min(r[key] for r in runs)
    row["floor"] = min((r["floor"] for r in runs), key=lambda f: f["floor"])
    row["peak_mb"] = max(r["peak_mb"] for r in runs)
    row["baseline_peak_mb"] = max(r["baseline_peak_mb"] for r in runs)
    row["identical"] = all(r["identical"] for r in runs)
    return row


def print_table(rows: list[dict], repeat: int = 1) -> None:
    print()
    print("seconds (wall, start-up included); ratios against the genanki-only baseline of the same run"
          + (f"; each time the fastest of {repeat} runs" if repeat > 1 else ""))
    head = (f"{'cards':>7} {'src MB':>6} {'cold':>7} {'warm':>6} {'check':>6} {'check*':>6} {'nocache':>7} "
            f"{'base':>6} {'cold/b':>6} {'warm/b':>6} {'chk/b':>6} {'peak MB':>7} {'base MB':>7} {'same':>5}")
    print(head)
    print("-" * len(head))
    for r in rows:
        b = r["baseline"]
        print(f"{r['cards']:>7,} {r['source_mb']:>6.1f} {r['cold']:>7.2f} {r['warm']:>6.2f} {r['check']:>6.2f} "
              f"{r['check_warm']:>6.2f} {r['nocache']:>7.2f} {b:>6.2f} {r['cold'] / b:>6.2f} {r['warm'] / b:>6.2f} "
              f"{r['check'] / b:>6.2f} {r['peak_mb']:>7.0f} {r['baseline_peak_mb']:>7.0f} "
              f"{'yes' if r['identical'] else 'NO':>5}")
    print()
    print("goals: cold/b <= 2, warm/b <= 0.5, chk/b <= 1, peak <= 1024 MB.  check = `check --no-cache`,")
    print("check* = `check` with a filled cache; base = genanki build + write_to_file, in-process;")
    print("same = cold == no-cache build, and warm == no-cache build after the same edit, byte for byte.")
    for r in rows:
        B = r["baseline_process"]
        print(f"  {r['cards']:,} cards: baseline as a whole process (start-up and reading its input included) "
              f"{B:.2f} s, against which cold {r['cold'] / B:.2f}, warm {r['warm'] / B:.2f}, check {r['check'] / B:.2f}; "
              f"no-cache build after the edit {r['nocache_edit']:.2f} s")
    for r in rows:
        f, b = r["floor"], r["baseline"]
        print(f"  {r['cards']:,} cards, the floor of any build that writes the whole package: its {f['rows']:,} rows "
              f"into sqlite3 {f['sqlite']:.2f} s, zipped in one thread {f['zip']:.2f} s, Python started with "
              f"deckgen's modules {r['start']:.2f} s; sqlite and start-up alone are "
              f"{(f['sqlite'] + r['start']) / b:.2f} of base; the rows copied inside sqlite instead (as a "
              f"rebuild does) {f['copy']:.2f} s, which with start-up is {(f['copy'] + r['start']) / b:.2f} of base")


def machine_speed() -> float:
    """Seconds a fixed pure-Python loop takes in a fresh process: the same work on every run, so
    it tells how fast this shared machine is right now (about 1.6 s on a calm 2-core machine here).
    Runs that disagree with each other can be read against it."""
    return run_measured([sys.executable, "-c", "x = 0\nfor i in range(30_000_000): x += i"]).seconds


def fit(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of log(time) against log(size)."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def scaling(seed: int, card_sizes: list[int], source_sizes: list[float], fixed_mb: float, fixed_cards: int,
            repeat: int = 2) -> None:
    """Cold (no-cache) build, no-cache check and warm build after a one-card edit, as the cards
    grow over fixed sources and as the sources grow under fixed cards; then the exponents."""
    def one_run(cards: int, mb: float) -> dict[str, float]:
        gen = project(cards, mb, seed)
        work = fresh_copy(gen, OUT / f"scale-{cards}-{mb:g}", templates)
        run = {"build": deckgen("build", str(work), "--no-cache").seconds,
               "check": deckgen("check", str(work), "--no-cache").seconds}
        deckgen("build", str(work))  # fills the cache
        edit_one_card(work, json.loads((gen / "manifest.json").read_text())["edit"])
        run["warm build"] = deckgen("build", str(work)).seconds
        return run

    OUT.mkdir(exist_ok=True)
    templates = templates_snapshot(OUT)
    points = list(dict.fromkeys([(n, fixed_mb) for n in card_sizes] + [(fixed_cards, mb) for mb in source_sizes]))
    best: dict[tuple[int, float], dict[str, float]] = {}
    # Round after round over every point, each point's time the best of its runs: a slow spell on
    # a shared machine then costs one run of several points rather than every run of one.
    for round_ in range(1, repeat + 1):
        print(f"round {round_} of {repeat} over {len(points)} points ...", flush=True)
        for point in points:
            run = one_run(*point)
            best[point] = {k: min(v, best.get(point, run)[k]) for k, v in run.items()}

    def report(cards: int, mb: float) -> dict[str, float]:
        out = best[(cards, mb)]
        print(f"  {cards:>7,} cards {mb:>5g} MB: " + ", ".join(f"{k} {v:.2f} s" for k, v in out.items()), flush=True)
        return out

    print(f"\nscaling in cards (sources fixed at {fixed_mb:g} MB)")
    by_cards = [(n, report(n, fixed_mb)) for n in card_sizes]
    print(f"scaling in source text (cards fixed at {fixed_cards:,})")
    by_text = [(mb, report(fixed_cards, mb)) for mb in source_sizes]
    print(f"\nexponent k in time ~ size^k, least squares over log-log (1 = linear; start-up included; "
          f"best of {repeat} runs per point)")
    for what in ("build", "check", "warm build"):
        kc = fit([(n, t[what]) for n, t in by_cards])
        kt = fit([(mb, t[what]) for mb, t in by_text])
        print(f"  {what:<11} cards: {kc:.2f}   source text: {kt:.2f}")
    print("largest doubling (time ratio between consecutive sizes, scaled to a doubling):")
    for label, rows in (("cards", by_cards), ("source text", by_text)):
        for what in ("build", "check", "warm build"):
            worst = max((b[1][what] / a[1][what]) ** (math.log(2) / math.log(b[0] / a[0]))
                        for a, b in zip(rows, rows[1:]))
            print(f"  {label:<11} {what:<11} x{worst:.2f}")


def profile(cards: int, source_mb: float, seed: int, top: int) -> None:
    gen = project(cards, source_mb, seed)
    work = fresh_copy(gen, OUT / f"profile-{cards}", templates_snapshot(OUT))
    manifest = json.loads((gen / "manifest.json").read_text())
    code = (
        "import cProfile, pstats, sys\n"
        "from pathlib import Path\n"
        "from deckgen import parallel, pipeline\n"
        "parallel.MIN_ITEMS = pipeline.PARALLEL_SOURCE_BYTES = 1 << 62  # one process: cProfile sees it all\n"
        "from deckgen.pipeline import build_project\n"
        "cProfile.run('build_project(Path(sys.argv[1]), **eval(sys.argv[3]))', sys.argv[2])\n"
    )
    for label, kwargs in (("cold build, no cache", "{'use_cache': False}"), ("cold build, filling the cache", "{}"),
                          ("warm build after editing one card", "{}")):
        if label.startswith("warm"):
            edit_one_card(work, manifest["edit"])
        stats = OUT / "profile.prof"
        result = run_measured([sys.executable, "-c", code, str(work), str(stats), kwargs])
        if result.code != 0:
            raise SystemExit(result.stderr[-3000:])
        import pstats

        print(f"\n=== {label}: {cards:,} cards, {source_mb:g} MB (wall {result.seconds:.2f} s under cProfile) ===")
        p = pstats.Stats(str(stats))
        p.sort_stats("cumulative").print_stats(r"deckgen/(pipeline|project|validate|matching|render|package|cache)",
                                               top)
        p.sort_stats("tottime").print_stats(top)


STAGES = """\
import gc, json, os, resource, sys, threading, time
from pathlib import Path
from deckgen import cli, parallel, pipeline
from deckgen.pipeline import build_project, check_project
job, root, alone = sys.argv[1], Path(sys.argv[2]), sys.argv[3:] == ["alone"]
if alone:  # every stage in this one process
    parallel.MIN_ITEMS = pipeline.PARALLEL_SOURCE_BYTES = 1 << 62
cli.keep_freed_memory()  # as the command line does (see deckgen.cli.run)
gc.disable()
def cpu():
    # This process's CPU time and that of its workers, each counted once it has been waited for.
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime
start = time.perf_counter()
seen = {}
def progress(stage, done, total):
    now = time.perf_counter() - start
    seen.setdefault(stage, [now, now])[1] = now
# The machine's busy and total CPU time, read every 50 ms: how many cores each stage kept busy.
samples = []
def busy_and_total():
    with open("/proc/stat") as stat:
        ticks = [int(t) for t in stat.readline().split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # less idle and waiting for I/O
def sample():
    while True:
        samples.append((time.perf_counter() - start, *busy_and_total()))
        time.sleep(0.05)
if os.path.exists("/proc/stat"):
    threading.Thread(target=sample, daemon=True).start()
before = cpu()
if job == "check":
    check_project(root, use_cache=False, progress=progress, anchors=False)  # as `deckgen check --no-cache`
else:
    build_project(root, use_cache=job != "build --no-cache", progress=progress)
total = time.perf_counter() - start
print(json.dumps({"stages": seen, "total": total, "samples": samples, "cores": os.cpu_count(),
                  "cpu": cpu() - before}))
"""


def cores_busy(samples: list[list[float]], cores: int, start: float, end: float) -> str:
    """The average number of the machine's cores busy between two moments, from /proc/stat."""
    inside = [s for s in samples if start <= s[0] <= end]
    if len(inside) < 2 or inside[-1][2] == inside[0][2]:
        return ""
    return f"{(inside[-1][1] - inside[0][1]) / (inside[-1][2] - inside[0][2]) * cores:4.2f}"


def stages(cards: int, source_mb: float, seed: int) -> None:
    """Wall time of each stage (as the progress reports see it, workers included) of a no-cache
    build, a no-cache check, a build that fills an empty cache and a warm build after a one-card
    edit; and of each stage of the first two with all their work done in one process."""
    gen = project(cards, source_mb, seed)
    work = fresh_copy(gen, OUT / f"stages-{cards}", templates_snapshot(OUT))
    manifest = json.loads((gen / "manifest.json").read_text())
    labels = {"build --no-cache": "cold build (no cache)", "check": "check (no cache)",
              "build": "cold build, filling an empty cache", "edited": "warm build after editing one card"}
    alone = {job: stage_run(job, work, alone=True)[1] for job in ("build --no-cache", "check")}
    for job in ("build --no-cache", "check", "build", "edited"):
        if job == "build":
            shutil.rmtree(work / ".deckgen-cache", ignore_errors=True)
        if job == "edited":
            edit_one_card(work, manifest["edit"])
        result, data = stage_run("build" if job == "edited" else job, work)
        one = alone.get(job)
        print(f"\n{labels[job]}: {cards:,} cards, {source_mb:g} MB; {result.seconds:.2f} s as a process, "
              f"{data['total']:.2f} s in deckgen's pipeline; CPU {data['cpu']:.2f} s"
              + (f" (in one process: {one['total']:.2f} s in the pipeline, CPU {one['cpu']:.2f} s)" if one else ""))
        print(f"  {'stage':<22} {'until':>8} {'wall':>7}  {'cores busy':>10}" + ("  in one process" if one else ""))
        previous = 0.0
        samples, cores = data["samples"], data["cores"] or 1
        durations = stage_durations(one) if one else {}
        for stage, last in stage_ends(data).items():
            alone_wall = f"  {durations[stage]:12.2f} s" if stage in durations else ""
            print(f"  {stage:<22} {last:6.2f} s {last - previous:5.2f} s  "
                  f"{cores_busy(samples, cores, previous, last):>10}{alone_wall}")
            previous = last


def stage_run(job: str, work: Path, alone: bool = False) -> tuple[Run, dict[str, Any]]:
    result = run_measured([sys.executable, "-c", STAGES, job, str(work), *(["alone"] if alone else [])])
    if result.code != 0:
        raise SystemExit(result.stderr[-3000:])
    return result, json.loads(result.stdout.strip().splitlines()[-1])


def stage_ends(data: dict[str, Any]) -> dict[str, float]:
    """When each stage of a `stage_run` ended (its last progress report), and the run itself ("the rest")."""
    return {**{stage: last for stage, (_, last) in data["stages"].items()}, "the rest": data["total"]}


def stage_durations(data: dict[str, Any]) -> dict[str, float]:
    """How long each stage of a `stage_run` took, from the end of the one before."""
    ends = stage_ends(data)
    return {stage: end - previous for (stage, end), previous in zip(ends.items(), [0.0, *ends.values()])}


# A no-cache build or check as the command line runs it, but with all its work in this one
# process, so that valgrind counts all of it.
ALONE = """\
import gc, sys
from pathlib import Path
from deckgen import cli, parallel, pipeline
parallel.MIN_ITEMS = pipeline.PARALLEL_SOURCE_BYTES = 1 << 62
cli.keep_freed_memory()
gc.disable()
job, root = sys.argv[1], Path(sys.argv[2])
if job == "build":
    pipeline.build_project(root, use_cache=False)
else:
    pipeline.check_project(root, use_cache=False, anchors=False)
"""


def instructions(cards: int, source_mb: float, seed: int) -> None:
    """Instructions run by a no-cache build and a no-cache check (all their work in one process)
    and by the genanki-only baseline, each a whole process: counted by valgrind, so the same
    code and input give the same count however busy the machine is. A change that does less
    work shows here even when it is lost in the noise of the timings."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt install valgrind)")
    gen = project(cards, source_mb, seed)
    work = fresh_copy(gen, OUT / f"instructions-{cards}", templates_snapshot(OUT))
    deckgen("build", str(work), "--no-cache")
    notes_json = work / "notes.json"
    run_measured([sys.executable, str(HERE / "baseline.py"), "dump", str(next((work / "dist").glob("*.apkg"))),
                  str(notes_json)])

    def counted(*args: str) -> int:
        # String hashing is seeded per process, and the order of sets and dicts with it: pinned.
        result = run_measured([valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                               sys.executable, *args], PYTHONHASHSEED="0")
        if result.code != 0:
            raise SystemExit(f"{' '.join(args[:3])} failed under valgrind:\n{result.stderr[-3000:]}")
        refs = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
        if refs is None:
            raise SystemExit(f"valgrind gave no count:\n{result.stderr[-3000:]}")
        return int(refs.group(1).replace(",", ""))

    base = counted(str(HERE / "baseline.py"), "write", str(notes_json), str(work / "baseline.apkg"))
    print(f"\ninstructions (millions; whole processes, start-up included): {cards:,} cards, {source_mb:g} MB of sources")
    for label, job in (("build --no-cache, in one process", "build"), ("check --no-cache, in one process", "check")):
        count = counted("-c", ALONE, job, str(work))
        print(f"  {label:<34} {count / 1e6:>10,.0f}  {count / base:5.2f} of the baseline")
    print(f"  {'baseline (genanki)':<34} {base / 1e6:>10,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5000,50000", help="card counts, comma-separated")
    parser.add_argument("--source-mb", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scaling", action="store_true", help="fit the exponents instead of the table")
    parser.add_argument("--scale-cards", default="5000,10000,20000,50000", help="card counts, over --scale-cards-mb")
    parser.add_argument("--scale-cards-mb", type=float, default=2.0, help="sources while the cards grow")
    parser.add_argument("--scale-mb", default="2.5,5,10,20", help="source sizes, under --scale-mb-cards cards")
    parser.add_argument("--scale-mb-cards", type=int, default=5000, help="cards while the sources grow")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each measurement (table and scaling); the fastest counts")
    parser.add_argument("--profile", type=int, metavar="CARDS", help="profile builds of this many cards")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--stages", type=int, metavar="CARDS", help="time each stage of builds of this many cards")
    parser.add_argument("--instructions", type=int, metavar="CARDS",
                        help="count the instructions of a build and a check of this many cards (needs valgrind)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    print(f"deckgen {snapshot_source()} (snapshot of src/ in {SNAPSHOT.relative_to(HERE.parent)}), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"machine speed {machine_speed():.2f} s (see --help)", flush=True)
    try:
        run_requested(args, parser)
    finally:
        print(f"machine speed at the end {machine_speed():.2f} s", flush=True)


def run_requested(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.profile:
        profile(args.profile, args.source_mb, args.seed, args.top)
        return
    if args.stages:
        stages(args.stages, args.source_mb, args.seed)
        return
    if args.instructions:
        instructions(args.instructions, args.source_mb, args.seed)
        return
    if args.scaling:
        cards = sorted({int(x) for x in args.scale_cards.split(",")})
        mbs = sorted({float(x) for x in args.scale_mb.split(",")})
        if len(cards) < 2 or len(mbs) < 2:
            parser.error("--scaling fits exponents: --scale-cards and --scale-mb each need two sizes or more")
        scaling(args.seed, cards, mbs, fixed_mb=args.scale_cards_mb, fixed_cards=args.scale_mb_cards,
                repeat=args.repeat)
        return
    rows = []
    for size in (int(x) for x in args.sizes.split(",")):
        print(f"{size:,} cards, {args.source_mb:g} MB of sources ...", flush=True)
        rows.append(fastest([measure(size, args.source_mb, args.seed) for _ in range(max(1, args.repeat))]))
    print_table(rows, max(1, args.repeat))
    if not all(r["identical"] for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
