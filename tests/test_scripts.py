"""The Lua scripts as text: they load, their libraries and names resolve, their numbers come from
feedback_queue.outcomes; and the one rate limiter answers as the two it replaced did."""

from __future__ import annotations

import ast
import dataclasses
import random
import re
import sys
from dataclasses import fields
from fractions import Fraction
from importlib import resources
from pathlib import Path

import pytest
from redis.asyncio import Redis

import feedback_queue.outcomes
from feedback_queue.queue import Queue
from feedback_queue.scripts import (
    LIBS,
    Scripts,
    closure,
    constants_prelude,
    library,
    lua_constants,
    source,
    uses,
)
from feedback_queue.settings import Rate
from tests.conftest import FakeClock
from tests.helpers import submission

SCRIPTS = [f.name for f in fields(Scripts)]
FOLDER = resources.files("feedback_queue.scripts")
LUA_FILES = sorted(
    [f"{name}.lua" for name in SCRIPTS] + [f"lib/{name}.lua" for name in LIBS],
)


def read(path: str) -> str:
    return FOLDER.joinpath(*path.split("/")).read_text(encoding="utf-8")


def code(text: str) -> str:
    """Lua without its comments and string literals (neither holds an outcome)."""
    text = re.sub(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"", "''", text)
    return re.sub(r"--.*", "", text)


def test_every_script_and_library_is_a_file() -> None:
    on_disk = {p.name for p in FOLDER.iterdir() if p.name.endswith(".lua")}
    assert on_disk == {f"{name}.lua" for name in SCRIPTS}
    in_lib = {p.name for p in FOLDER.joinpath("lib").iterdir() if p.name.endswith(".lua")}
    assert in_lib == {f"{name}.lua" for name in LIBS}


async def test_every_script_loads_on_the_real_server(client: Redis) -> None:
    for name in SCRIPTS:
        sha = await client.script_load(source(name))
        assert (await client.script_exists(sha)) == [True], name


@pytest.mark.parametrize("path", LUA_FILES)
def test_declared_libraries_exist_and_come_after_their_dependencies(path: str) -> None:
    declared = uses(read(path))
    assert set(declared) <= set(LIBS), path
    if path.startswith("lib/"):
        name = path.removeprefix("lib/").removesuffix(".lua")
        assert all(LIBS.index(dep) < LIBS.index(name) for dep in declared), path


def test_a_script_gets_its_libraries_with_their_dependencies_each_once_in_order() -> None:
    assert closure(["consume"]) == (
        "codec",
        "clock",
        "limiter",
        "submission",
        "lanes",
        "started",
        "consume",
    )
    assert closure(["started", "codec"]) == ("codec", "clock", "started")
    body = source("ack_take")
    starts = [body.index(library(lib)) for lib in closure(["consume"])]
    assert starts == sorted(starts)
    assert all(body.count(library(lib)) == 1 for lib in closure(["consume"]))
    assert source("lock").count("local function") == 0  # no library: none sent


def test_unknown_library_is_refused() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        closure(["codec", "nope"])
    with pytest.raises(ValueError, match="more than one"):
        uses("-- uses: codec\n-- uses: limiter\n")


LIB_FUNCTIONS = {
    fn: lib for lib in LIBS for fn in re.findall(r"^local function (\w+)", library(lib), re.M)
}


@pytest.mark.parametrize("path", LUA_FILES)
def test_library_functions_called_come_from_declared_libraries(path: str) -> None:
    text = read(path)
    own = path.removeprefix("lib/").removesuffix(".lua")
    available = set(closure(uses(text))) | ({own} if path.startswith("lib/") else set())
    called = {fn for fn in LIB_FUNCTIONS if re.search(rf"\b{fn}\s*\(", code(text))}
    missing = {fn: LIB_FUNCTIONS[fn] for fn in called if LIB_FUNCTIONS[fn] not in available}
    assert not missing, f"{path} calls {missing} without '-- uses:' of those libraries"


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_constant_a_script_names_is_defined_in_what_is_sent(name: str) -> None:
    # Redis raises on an undefined global only when that line runs: check them all here.
    sent = code(source(name))
    defined = set()
    for names in re.findall(r"^local\s+([A-Z][A-Z0-9_, ]*?)\s*=", sent, re.M):
        defined |= {n.strip() for n in names.split(",")}
    named = set(re.findall(r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b", sent)) - {"KEYS", "ARGV"}
    assert named <= defined, f"{name}: {sorted(named - defined)} undefined"


# A bare number where a name exists: a return or state/outcome/status value that is a literal,
# or a comparison with one. Of a multiple assignment only the first target is checked
# (`outcome, status = ENQ_QUEUE_FULL, 0`: a refused enqueue has no status, and 0 has no name).
BARE = [
    re.compile(r"\breturn\s*\{?\s*-?\d"),
    re.compile(r"(?<!,)(?<!,\s)\b(?:outcome|state|status)\b[\w\s,]*(?<![=~<>])=\s*\{?\s*-?\d"),
    re.compile(r"\b(?:outcome|state|status)\s*(?:==|~=|<=|>=|<|>)\s*-?\d"),
    re.compile(r"(?:==|~=)\s*-\d"),
]
# Literals that are counts, not outcomes: (file, the line's code).
COUNTS = {
    ("lib/limiter.lua", "return 0, math.max(math.ceil(tat + interval - period - now), 1)"),
    ("lib/lanes.lua", "return 0"),  # unhold_key: how many lanes it made ready
}


def bare_literals(path: str, text: str) -> list[str]:
    """The lines of `text` with a bare number (comments and strings aside)."""
    found = []
    for line, stripped in zip(text.split("\n"), code(text).split("\n"), strict=True):
        if any(p.search(stripped) for p in BARE) and (path, stripped.strip()) not in COUNTS:
            found.append(line)
    return found


@pytest.mark.parametrize("path", LUA_FILES)
def test_no_bare_outcome_or_status_numbers(path: str) -> None:
    assert bare_literals(path, read(path)) == []


@pytest.mark.parametrize(
    "line",
    [
        "return -1",
        "return {0}",
        "outcome = 2",
        "local outcome = 0",
        "outcome, status = -3, 0",
        "if state ~= 0 then",
        "if rec.status == 5 then",
        "rec.status = 1",
        "if redis.call('LREM', KEYS[1], 1, id) == -1 then",
    ],
)
def test_the_bare_number_check_catches_what_it_should(line: str) -> None:
    assert bare_literals("x.lua", line) == [line]


@pytest.mark.parametrize(
    "line",
    [
        "return n, 0",
        "return {#keys, trimmed}",
        "local flags, status = 0, COMPLETED",
        "outcome, status = ENQ_KEY_CONFLICT, 0",
        "if redis.call('EXISTS', KEYS[9]) == 1 then",
        "local done = 0",
        "-- return 1: a comment",
    ],
)
def test_the_bare_number_check_lets_counts_and_redis_replies_be(line: str) -> None:
    assert bare_literals("x.lua", line) == []


async def test_the_prelude_defines_every_member_with_its_number(client: Redis) -> None:
    expected = lua_constants()
    names = list(expected)
    prelude = constants_prelude(" ".join(names))
    got = await client.eval(prelude + f"return {{{', '.join(names)}}}", 0)
    assert dict(zip(names, got, strict=True)) == expected
    spot = ("ENQ_RATE_LIMITED", "FAILED", "TAKE_PAUSED", "LEASE_HELD")
    assert [expected[n] for n in spot] == [-4, 5, -1, 1]


def test_every_member_is_used_by_some_script() -> None:
    written = "\n".join(code(read(path)) for path in LUA_FILES)
    assert [n for n in lua_constants() if not re.search(rf"\b{n}\b", written)] == []


def test_a_script_is_sent_only_the_outcomes_it_names() -> None:
    lock = source("lock")
    assert "LEASE_HELD" in lock
    assert "ENQ_" not in lock
    assert "WAITING" not in lock
    assert "local WAITING, ACTIVE, DELAYED, COMPLETED, FAILED, CANCELLED = 1, 2, 3, 4, 5, 6" in (
        source("take")
    )


def test_outcomes_imports_only_the_standard_library() -> None:
    path = feedback_queue.outcomes.__file__
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    allowed = set(sys.stdlib_module_names) | {"__future__", "feedback_queue.job"}
    assert {m for m in imported if m.split(".")[0] not in allowed and m not in allowed} == set()


# The one limiter against the two it replaced, copied verbatim from the scripts before (as
# functions of their arguments): enqueue.lua's admit and the old shared prelude's limiter_admit.
BEFORE = """
local function admit(key, now, rate, period)
  local tat = tonumber(redis.call('GET', key) or 0)
  if tat < now then tat = now end
  local new_tat = tat + period / rate
  local wait = new_tat - now - period
  if wait > 0 then
    return math.ceil(wait)
  end
  redis.call('SET', key, string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now))
  return 0
end

local function limiter_admit(key, now, limit, period, n)
  if limit <= 0 then
    return n, 0
  end
  local interval = period / limit
  local tat = tonumber(redis.call('GET', key) or 0)
  if tat < now then tat = now end
  local allowed = math.min(n, math.floor((now + period - tat) / interval))
  if allowed <= 0 then
    return 0, math.max(math.ceil(tat + interval - period - now), 1)
  end
  redis.call('SET', key, string.format('%.3f', tat + allowed * interval))
  return allowed, 0
end
"""

# What each writes is recorded through a local `redis` the functions above see instead of the
# global one: every SET's value and PX, to compare exactly.
SPY = """
local real_redis, writes = redis, {}
local redis = {call = function(cmd, ...)
  if cmd == 'SET' then writes[#writes + 1] = table.concat({...}, ' ', 2) end
  return real_redis.call(cmd, ...)
end}
"""

# KEYS: before, after. ARGV: mode ('submitter' or 'global'), limit, period, then now, n per step.
# Each step starts both keys from the same state (before's), and returns that stored arrival
# time ('' for none), then 3 per side: allowed, wait, what it SET ('' for nothing).
COMPARE = """
local mode, limit, period = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
local function written(mark)
  out[#out + 1] = #writes > mark and writes[#writes] or ''
end
for i = 4, #ARGV, 2 do
  local now, n = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local tat = real_redis.call('GET', KEYS[1])
  if tat then real_redis.call('SET', KEYS[2], tat) else real_redis.call('DEL', KEYS[2]) end
  out[#out + 1] = tat or ''
  local mark = #writes
  if mode == 'submitter' then
    local wait = admit(KEYS[1], now, limit, period)
    out[#out + 1] = wait == 0 and 1 or 0
    out[#out + 1] = wait
  else
    local allowed, wait = limiter_admit(KEYS[1], now, limit, period, n)
    out[#out + 1] = allowed
    out[#out + 1] = wait
  end
  written(mark)
  mark = #writes
  local allowed, wait = gcra_admit(KEYS[2], now, limit, period, mode == 'submitter' and 1 or n,
    mode == 'submitter')
  out[#out + 1] = allowed
  out[#out + 1] = wait
  written(mark)
end
return out
"""


@pytest.mark.parametrize("mode", ["submitter", "global"])
async def test_the_one_limiter_answers_as_the_two_it_replaced(
    client: Redis, queue_name: str, mode: str
) -> None:
    """The global limiter's answers and writes are the same, bit for bit. The per-submitter
    ones too, except exactly on the boundary (the slack before the next admission is 0 within
    the stored arrival time's rounding): there admit's `tat + interval - now - period` and the
    shared `floor((now + period - tat) / interval)` round differently, so either may say yes."""
    script = SPY + library("limiter") + BEFORE + COMPARE
    rng = random.Random(mode)
    admitted = refused = on_boundary = 0
    for run in range(40):
        limit = rng.choice([1, 2, 3, 4, 7, 10, 60, 1000] + ([0, -1] if mode == "global" else []))
        period = rng.choice([1, 7, 250, 333, 1000, 60_000, 3_600_000])
        interval = period / limit if limit > 0 else 1.0
        now = 1_750_000_000_000 + rng.randrange(10**6)
        args: list[str | int] = [mode, limit, period]
        for _ in range(150):
            now += rng.choice([0, 0, 1, int(interval), int(interval) + 1, rng.randrange(period)])
            args += [now, rng.randint(1, 12)]
        keys = [f"{{{queue_name}}}:before:{run}", f"{{{queue_name}}}:after:{run}"]
        out = await client.eval(script, 2, *keys, *args)
        for step, i in enumerate(range(0, len(out), 7)):
            stored, before, after = out[i], out[i + 1 : i + 4], out[i + 4 : i + 7]
            if after != before:
                assert mode == "submitter", (limit, period, step, before, after)
                step_now = int(args[3 + 2 * step])
                tat = max(Fraction(stored.decode() or 0), Fraction(step_now))
                slack = step_now + period - tat - Fraction(period, limit)
                assert abs(slack) < Fraction(1, 1000), (limit, period, step, before, after)
                on_boundary += 1
                continue
            if mode == "global":
                assert b"PX" not in after[2]  # a forgotten global limit would let a burst through
            elif after[2]:
                assert after[2].split()[1:2] == [b"PX"]
            admitted += after[0] > 0
            refused += after[0] == 0
    assert admitted > 1000  # both sides of the limit were compared
    assert refused > 1000
    assert on_boundary < 20


async def test_submitter_key_expires_and_the_global_key_does_not(
    redis_queue: Queue, client: Redis, clock: FakeClock
) -> None:
    queue = redis_queue
    queue.config = dataclasses.replace(
        queue.config, submitter_rate=Rate(3, 60.0), rate_limit=Rate(4, 1.0)
    )
    await queue.enqueue(submission("a", submitter_id="s1"))

    async def stored(key: str) -> bytes:
        value = await client.get(key)
        assert isinstance(value, bytes)
        return value

    key = queue.keys.submitter("s1")
    # One of three used: 20 s of arrival time, gone when it stops mattering.
    assert float(await stored(key)) == pytest.approx(clock.now * 1000 + 20_000, abs=0.001)
    assert 19_000 < await client.pttl(key) <= 20_000
    assert len((await queue.take("w1", 5)).jobs) == 1
    assert float(await stored(queue.keys.limiter)) == clock.now * 1000 + 250
    assert await client.pttl(queue.keys.limiter) == -1
    assert re.fullmatch(rb"\d+\.\d{3}", await stored(queue.keys.limiter))
