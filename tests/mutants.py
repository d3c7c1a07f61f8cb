"""Are the queue's guards really tested? Weaken each one and see a test fail.

    python3 dev.py mutants            # every mutant, against the core and worker tests
    python3 dev.py mutants reap-beat  # only the named ones

Each mutant below is one guard of a queue rule, weakened by one textual change. For each, the
tree is copied to a temporary folder, the change applied there (never to this checkout), and
pytest runs the tests that must catch it, stopping at the first failure. The unchanged copy
must pass first, or nothing would be learnt. A mutant "survives"
when every test passes: that guard is not really tested, and the run exits 1. Not part of the
test command (one pytest run per mutant takes minutes); run it after changing a guard.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The tests run against each mutant: the queue's own and the worker's (no chaos, no browser).
TESTS = ["tests", "--ignore=tests/chaos", "--ignore=tests/dashboard", "--ignore=tests/scaleout"]
TESTS += ["--ignore=tests/deploy", "--ignore=tests/security", "--ignore=tests/up"]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository
    old: str
    new: str
    guard: str


MUTANTS = [
    Mutant(
        "reap-beat",
        "feedback_queue/scripts/reap.lua",
        "if beat and tonumber(beat) >= redis_ms() - grace then",
        "if false then",
        "reap.lua re-checks, atomically, that the worker is still silent",
    ),
    Mutant(
        "reap-other-holder",
        "feedback_queue/scripts/reap.lua",
        "if raw and not (who and parse_started(who) ~= worker) then",
        "if raw then",
        "the reaper hands back only the silent worker's own attempts",
    ),
    Mutant(
        "outage-gap",
        "feedback_queue/scripts/lib/watch.lua",
        "if latest and now - tonumber(latest) > grace / 2 then",
        "if false then",
        "a gap in the fleet's beats starts a calm (the outage rule)",
    ),
    Mutant(
        "outage-calm",
        "feedback_queue/scripts/reapable.lua",
        "if now < tonumber(redis.call('HGET', KEYS[2], 'calm') or 0) then",
        "if false then",
        "nobody is reaped during a calm",
    ),
    Mutant(
        "token-holds",
        "feedback_queue/scripts/lib/started.lua",
        "return fence ~= false and fence == token",
        "return true",
        "a token holds only the attempt it was issued for (every outcome)",
    ),
    Mutant(
        "token-ack",
        "feedback_queue/scripts/lib/consume.lua",
        "if status and holds(who, token) then",
        "if status and status ~= COMPLETED then",
        "ack presents the attempt's token",
    ),
    Mutant(
        "token-fail",
        "feedback_queue/scripts/fail.lua",
        "local raw = holds(who, token) and redis.call('GET', job_key)",
        "local raw = redis.call('GET', job_key)",
        "fail presents the attempt's token",
    ),
    Mutant(
        "token-release",
        "feedback_queue/scripts/release.lua",
        "    if holds(who, token) then",
        "    if who then",
        "release presents the attempt's token",
    ),
    Mutant(
        "lane-ready",
        "feedback_queue/scripts/lib/lanes.lua",
        "  if len == 1 then",
        "  if len == 0 then",
        "a lane that gets its first id is ready: no waiting work is left where no take looks",
    ),
    Mutant(
        "fair-turn",
        "feedback_queue/scripts/lib/lanes.lua",
        "      m = math.min(m, math.floor((after[2] + quantum - 1 - tag) * q.w) + 1)",
        "      m = m",
        "a key starts only until another key's turn comes: fair share over any busy period",
    ),
    Mutant(
        "cap-unhold",
        "feedback_queue/scripts/lib/lanes.lua",
        "    unhold_key(L, key, true)",
        "    local _ = key",
        "an attempt's end frees its key's turn when the key was at max_active",
    ),
    Mutant(
        "take-registers",
        "feedback_queue/scripts/lib/consume.lua",
        "  register(KEYS[10], worker)",
        "",
        "taking registers the worker, so its list is never invisible",
    ),
    Mutant(
        "orphan-watch",
        "feedback_queue/scripts/orphans.lua",
        "    found[#found + 1] = worker",
        "",
        "the reaper watches reaped workers' lists",
    ),
    Mutant(
        "idempotency-outlives-record",
        "feedback_queue/scripts/enqueue.lua",
        "if seen and expires and tonumber(expires) > now then",
        "if seen and expires and tonumber(expires) > now and redis.call('EXISTS', "
        "KEYS[6] .. string.sub(seen, 1, string.find(seen, ':', 1, true) - 1)) == 1 then",
        "an idempotency key decides for its whole TTL, record or no record",
    ),
    Mutant(
        "short-delay",
        "feedback_queue/queue/producing.py",
        "math.ceil(delay * 1000) if delay > 0 else 0",
        "int(delay * 1000) if delay > 0 else 0",
        "a sub-millisecond delay is still a delay (DELAYED in delayed)",
    ),
    Mutant(
        "sweep-keeps-up",
        "feedback_queue/queue/housekeeping.py",
        "if max(int(keys), int(done), int(cancels), int(leases)) < batch:",
        "if True:",
        "one sweep forgets everything expired, at any rate",
    ),
    Mutant(
        "redis-time",
        "feedback_queue/scripts/lib/clock.lua",
        "  return redis_ms()\nend",
        "  return redis_ms() + 3600000\nend",
        "scripts act at Redis's time",
    ),
    Mutant(
        "cancel-revokes",
        "feedback_queue/scripts/lib/cancelling.lua",
        "    settle_started(rec, C.started, id, nil, who, ended)\n",
        "",
        "a cancel revokes the running attempt: its late ack completes nothing",
    ),
    Mutant(
        "cancel-stops-take",
        "feedback_queue/scripts/lib/started.lua",
        "if status == COMPLETED or status == CANCELLED then",
        "if status == COMPLETED then",
        "a cancelled job is never taken again",
    ),
    Mutant(
        "stopped-writes-nothing",
        "worker_service/worker.py",
        "            if self.cancels.is_revoked(job.id):\n"
        "                self._stopped(job)\n"
        "                return\n",
        "",
        "a worker writes no outcome for a stopped attempt",
    ),
    Mutant(
        "progress-fenced",
        "feedback_queue/scripts/progress.lua",
        "  if not holds(redis.call('HGET', KEYS[1], id), token) then",
        "  if not redis.call('HGET', KEYS[1], id) then",
        "only the attempt that holds the job may report (and renew its lease)",
    ),
    Mutant(
        "lease-of-this-attempt",
        "feedback_queue/scripts/reap.lua",
        "return reported_by(redis.call('HGET', KEYS[19], id), token) and tonumber(stamp)",
        "return tonumber(stamp)",
        "only the running attempt's own report keeps it from the reaper",
    ),
    Mutant(
        "timing-batch-once",
        "feedback_queue/scripts/timing.lua",
        "if batch <= last then",
        "if false then",
        "a batch of histogram counts sent again is not counted twice",
    ),
]


def _copy(dest: Path) -> None:
    """This checkout's files (tracked, and new ones not ignored) into `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def _pytest(tree: Path) -> str:
    """The first test that fails in `tree` ('' when all pass)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    args = [sys.executable, "-m", "pytest", "-x", "-q", "-rfE", "-p", "no:cacheprovider", *TESTS]
    done = subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return ""
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return failed[0].split(" - ")[0] if failed else f"pytest exited {done.returncode}"


def run(base: Path, mutant: Mutant | None) -> str:
    """The first test that fails against `mutant` (None: `base` as it is); '' when none."""
    with tempfile.TemporaryDirectory(prefix="fbq-mutant-") as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(base, tree)
        if mutant:
            target = tree / mutant.path
            text = target.read_text(encoding="utf-8")
            if text.count(mutant.old) != 1:
                raise SystemExit(f"{mutant.name}: the guard's text is not in {mutant.path} once")
            target.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")
        return _pytest(tree)


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    unknown = set(names) - {m.name for m in MUTANTS}
    if unknown:
        raise SystemExit(f"unknown mutants {sorted(unknown)}; see tests/mutants.py")
    survivors = []
    with tempfile.TemporaryDirectory(prefix="fbq-mutants-base-") as base:
        _copy(Path(base))  # one snapshot: later edits of this checkout change nothing here
        failing = run(Path(base), None)
        if failing:
            raise SystemExit(f"the tree as it is fails ({failing}): fix that first")
        for mutant in chosen:
            start = time.monotonic()
            killer = run(Path(base), mutant)
            verdict = "killed" if killer else "SURVIVED"
            took = time.monotonic() - start
            print(f"{verdict:9} {mutant.name:28} {took:5.0f}s  {mutant.guard}", flush=True)
            if killer:
                print(f"{'':9} by {killer}", flush=True)
            else:
                survivors.append(mutant.name)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
