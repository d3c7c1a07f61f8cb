"""Fair share, priorities and quotas (issue #19), against the tests' real Redis.

The scheduler is deterministic (start-time fair queueing, ties by key), so the counts below are
exact, not statistical: each key with waiting work gets starts in proportion to its weight,
whatever the depth of the others' backlogs. The tests of the scheduling itself run with strict
turns (quantum 1, `strict_turns`); the quantum's own tests bound what it changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from feedback_queue.errors import InvalidSubmission
from feedback_queue.fairness import SHARED_KEY, Fairness, Quota
from feedback_queue.job import Job, Status
from feedback_queue.outcomes import Acked
from feedback_queue.queue import Failure, Queue
from feedback_queue.queue.check import check
from feedback_queue.v1 import queue_pb2 as pb
from tests.conftest import FakeClock
from tests.helpers import silence, submission

HIGH, NORMAL, LOW = pb.PRIORITY_HIGH, pb.PRIORITY_NORMAL, pb.PRIORITY_LOW


async def backlog(queue: Queue, key: str, n: int, priority: int = NORMAL) -> list[str]:
    subs = [(submission(f"{key}-{i}", submitter_id=key, priority=priority), 0.0) for i in range(n)]
    return [r.id for r in await queue.enqueue_many(subs)]  # type: ignore[union-attr]


def key_of(job: Job) -> str:
    return pb.Submission.FromString(job.record.payload).submitter_id


def keys_of(jobs: list[Job]) -> Counter[str]:
    return Counter(key_of(j) for j in jobs)


def with_quantum(queue: Queue, quantum: int) -> None:
    """Run `queue` with FBQ_FAIR_QUANTUM=`quantum`, its other fairness settings kept."""
    queue.config = dataclasses.replace(
        queue.config, fairness=dataclasses.replace(queue.config.fairness, quantum=quantum)
    )


def strict_turns(queue: Queue) -> None:
    """One start per turn (FBQ_FAIR_QUANTUM=1), so that who starts when is exact."""
    with_quantum(queue, 1)


async def take(queue: Queue, n: int, worker: str = "w1", step: int = 7) -> list[Job]:
    """`n` starts in takes of `step` (the batch size must not change who gets a turn)."""
    jobs: list[Job] = []
    while len(jobs) < n:
        got = (await queue.take(worker, min(step, n - len(jobs)))).jobs
        assert got, "the queue ran dry"
        jobs += got
    return jobs


async def test_a_new_key_starts_next_whatever_the_backlog_before_it(queue: Queue) -> None:
    await backlog(queue, "big", 500)
    await take(queue, 40)
    [lone] = await backlog(queue, "small", 1)
    [first] = (await queue.take("w1", 1)).jobs
    assert first.id == lone


async def test_equal_weights_get_equal_starts_over_a_busy_period(queue: Queue) -> None:
    strict_turns(queue)
    for i, depth in enumerate((10, 20, 50, 100, 1000)):
        await backlog(queue, f"k{i}", depth)
    # While every key has work (the shallowest has 10), each gets exactly its share.
    assert keys_of(await take(queue, 50)) == {f"k{i}": 10 for i in range(5)}


async def test_weights_give_starts_in_proportion(queue: Queue) -> None:
    strict_turns(queue)
    for key, weight in (("one", 1), ("two", 2), ("four", 4)):
        await queue.set_quota(key, weight=weight)
        await backlog(queue, key, 200)
    assert keys_of(await take(queue, 140, step=16)) == {"one": 20, "two": 40, "four": 80}


@pytest.mark.parametrize("step", [1, 7, 64])
async def test_the_quantum_lets_a_turn_run_ahead_by_at_most_itself(queue: Queue, step: int) -> None:
    # The default quantum, 4: a key's turn may run up to 4 starts (x its weight) ahead.
    assert queue.config.fairness.quantum == 4
    depths = {"k0": 40, "k1": 60, "k2": 80, "k3": 400}
    for key, depth in depths.items():
        await backlog(queue, key, depth)
    order = [key_of(j) for j in await take(queue, 160, step=step)]
    seen: Counter[str] = Counter()
    for key in order:
        seen[key] += 1
        # At every start of the busy period (every key still has work), no key is ahead of
        # another by more than the quantum.
        assert max(seen[k] for k in depths) - min(seen[k] for k in depths) <= 4, seen
    assert sum(seen.values()) == 160
    # Within a take a look at a key starts a run of its jobs (fewer looks, the same shares): up
    # to the quantum past the next key's turn, so at most twice the quantum in a row. A take of
    # one is one start of the key whose turn it is.
    longest = max(len(list(group)) for _, group in itertools.groupby(order))
    if step == 1:
        assert longest == 1
    else:
        assert 1 < longest <= 2 * 4


async def test_the_quantum_follows_the_weights(queue: Queue) -> None:
    weights = {"one": 1, "two": 2, "four": 4}
    for key, weight in weights.items():
        await queue.set_quota(key, weight=weight)
        await backlog(queue, key, 400)
    order = [key_of(j) for j in await take(queue, 280, step=16)]
    seen: Counter[str] = Counter()
    for key in order:
        seen[key] += 1
        # Each key's starts over its weight: none ahead of another by more than the quantum.
        share = [seen[k] / w for k, w in weights.items()]
        assert max(share) - min(share) <= 4, seen
    assert seen["one"] + seen["two"] + seen["four"] == 280
    assert abs(seen["four"] / seen["one"] - 4) < 0.5
    assert abs(seen["two"] / seen["one"] - 2) < 0.25


async def test_a_new_key_starts_next_whatever_the_quantum(queue: Queue) -> None:
    with_quantum(queue, 50)
    await backlog(queue, "big", 500)
    await take(queue, 10)
    [lone] = await backlog(queue, "small", 1)
    [first] = (await queue.take("w1", 1)).jobs
    assert first.id == lone


async def test_priorities_are_strict_but_the_guard_feeds_each_lower_level(queue: Queue) -> None:
    await backlog(queue, "urgent", 100, HIGH)
    await backlog(queue, "usual", 100, NORMAL)
    await backlog(queue, "someday", 100, LOW)
    # Guard 20: of every 20 starts one goes to low first and one to normal first.
    assert keys_of(await take(queue, 60, step=9)) == {"urgent": 54, "usual": 3, "someday": 3}


async def test_the_guard_is_a_setting(queue: Queue) -> None:
    queue.config = dataclasses.replace(queue.config, fairness=Fairness(guard=4))
    await backlog(queue, "urgent", 100, HIGH)
    await backlog(queue, "someday", 100, LOW)
    # Slot 0 of every 4 goes to low first, slot 2 to normal first (empty: high takes it).
    assert keys_of(await take(queue, 40)) == {"urgent": 30, "someday": 10}


async def test_max_active_caps_a_key_and_an_end_frees_its_turn(queue: Queue) -> None:
    await queue.set_quota("capped", max_active=2)
    await backlog(queue, "capped", 10)
    await backlog(queue, "free", 10)
    first = await take(queue, 10, step=10)
    assert keys_of(first) == {"capped": 2, "free": 8}
    [done] = [j for j in first if key_of(j) == "capped"][:1]
    await queue.ack("w1", [(done.id, done.token, "ok")])
    again = await take(queue, 3, step=3)
    # One slot freed for capped; free's last two.
    assert keys_of(again) == {"capped": 1, "free": 2}
    assert (await queue.take("w1", 5)).jobs == []  # capped is at 2 again, free is empty
    failed = next(j for j in again if key_of(j) == "capped")
    await queue.fail("w1", [Failure(failed, "boom", permanent=True)])
    assert keys_of((await queue.take("w1", 5)).jobs) == {"capped": 1}
    assert (await check(queue)).violations == []


async def test_a_start_counts_against_its_key_only_while_a_max_active_applies(
    queue: Queue, client: Redis
) -> None:
    k = queue.keys
    await queue.set_quota("capped", max_active=5)
    await backlog(queue, "capped", 3)
    await backlog(queue, "free", 3)
    jobs = await take(queue, 6, step=6)
    # Only the capped key's ACTIVE jobs are counted (a start of "free" writes its starts only).
    assert await client.hgetall(k.key_busy) == {b"capped": b"3"}
    assert await client.hgetall(k.key_starts) == {b"capped": b"3", b"free": b"3"}
    await queue.ack("w1", [(j.id, j.token, "ok") for j in jobs])
    assert not await client.exists(k.key_busy)
    assert (await check(queue)).violations == []


async def test_a_new_max_active_counts_the_jobs_running_now(queue: Queue, client: Redis) -> None:
    k = queue.keys
    await backlog(queue, "k", 6)
    running = await take(queue, 3, step=3)
    assert not await client.exists(k.key_busy)  # no cap: not counted
    await queue.set_quota("k", max_active=2)
    assert await client.hget(k.key_busy, "k") == b"3"  # the three running now
    assert (await queue.take("w1", 5)).jobs == []  # 3 running against a cap of 2
    await queue.ack("w1", [(j.id, j.token, "ok") for j in running[:2]])
    [fourth] = (await queue.take("w1", 5)).jobs
    assert (await check(queue)).violations == []
    # The cap goes: what runs under it still ends counted, what starts now is not counted.
    await queue.set_quota("k", reset=True)
    rest = (await queue.take("w1", 5)).jobs
    assert len(rest) == 2
    assert await client.hget(k.key_busy, "k") == b"2"
    await queue.ack("w1", [(j.id, j.token, "ok") for j in [running[2], fourth, *rest]])
    assert not await client.exists(k.key_busy)
    assert (await check(queue)).violations == []


async def test_a_lane_a_take_emptied_leaves_at_its_next_turn(queue: Queue) -> None:
    # Four jobs, one turn of the quantum: the take cannot tell the lane is empty and leaves the
    # key ready; the books hold, and the key's next job still starts at its turn.
    await backlog(queue, "a", 4)
    await backlog(queue, "b", 8)
    assert keys_of((await queue.take("w1", 4)).jobs) == {"a": 4}
    assert (await check(queue)).violations == []
    assert keys_of((await queue.take("w1", 4)).jobs) == {"b": 4}
    [again] = await backlog(queue, "a", 1)
    assert [j.id for j in (await queue.take("w1", 1)).jobs] == [again]
    assert (await check(queue)).violations == []


async def test_a_key_rate_holds_its_lane_until_due(queue: Queue, clock: FakeClock) -> None:
    await queue.set_quota("slow", rate=2.0)
    await backlog(queue, "slow", 10)
    await backlog(queue, "fast", 10)
    # Two at once (a second's worth), then one every half second.
    assert keys_of(await take(queue, 12, step=12)) == {"slow": 2, "fast": 10}
    idle = await queue.take("w1", 5)
    assert idle.jobs == []
    assert idle.held == pytest.approx(0.5, abs=0.01)  # how long an idle worker may wait
    clock.advance(0.5)
    assert keys_of((await queue.take("w1", 5)).jobs) == {"slow": 1}
    clock.advance(1.0)
    assert keys_of((await queue.take("w1", 5)).jobs) == {"slow": 2}


async def test_a_quota_change_takes_effect_at_the_next_take(queue: Queue) -> None:
    await queue.set_quota("k", max_active=1)
    await backlog(queue, "k", 10)
    assert len((await queue.take("w1", 5)).jobs) == 1
    assert (await queue.take("w1", 5)).jobs == []
    quota, custom = await queue.set_quota("k", max_active=3)
    assert (quota.max_active, quota.weight, custom) == (3, 1.0, True)
    assert len((await queue.take("w1", 5)).jobs) == 2
    # A rate that holds the lane for a long while, then lifted: ready again at once.
    await queue.set_quota("k", max_active=0, rate=0.001)
    assert len((await queue.take("w1", 5)).jobs) == 1  # the burst of one
    assert (await queue.take("w1", 5)).jobs == []
    quota, custom = await queue.set_quota("k", reset=True)
    assert (quota, custom) == (queue.config.fairness.default, False)
    assert len((await queue.take("w1", 5)).jobs) == 5


async def test_bad_quotas_are_refused_with_the_field_to_fix(queue: Queue) -> None:
    for kwargs, field in (
        ({"weight": 0}, "weight"),
        ({"weight": float("nan")}, "weight"),
        ({"rate": -1}, "rate"),
        ({"max_active": -1}, "max_active"),
    ):
        with pytest.raises(InvalidSubmission) as err:
            await queue.set_quota("k", **kwargs)
        assert err.value.field == field
    with pytest.raises(InvalidSubmission) as err:
        await queue.set_quota("not a key!", weight=2)
    assert err.value.field == "key"


async def test_a_reaped_job_goes_back_first_in_line_of_its_key(queue: Queue, client: Redis) -> None:
    ids = await backlog(queue, "k", 5)
    await backlog(queue, "other", 5)
    await queue.heartbeat("reaper")
    await queue.heartbeat("doomed")
    [lost] = (await queue.take("doomed", 1)).jobs
    assert lost.id == ids[0]
    await silence(client, queue, "doomed", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 1
    k_jobs = [j for j in await take(queue, 10, step=10) if key_of(j) == "k"]
    assert [j.id for j in k_jobs] == ids  # its own again first, then the rest in order
    assert (await check(queue)).violations == []


async def test_a_reaped_or_handed_back_capped_job_frees_its_key(
    queue: Queue, client: Redis
) -> None:
    k = queue.keys
    await queue.set_quota("k", max_active=2)
    await backlog(queue, "k", 4)
    await queue.heartbeat("reaper")
    await queue.heartbeat("doomed")
    [lost] = (await queue.take("doomed", 1)).jobs
    [kept] = (await queue.take("leaving", 1)).jobs
    assert (await queue.take("w1", 2)).jobs == []  # at its cap of 2
    await silence(client, queue, "doomed", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 1
    assert await client.hget(k.key_busy, "k") == b"1"  # the reaped attempt no longer counts
    # The frozen worker wakes and acks: refused, and the count is not lowered twice.
    assert await queue.ack("doomed", [(lost.id, lost.token, "late")]) == [Acked.STALE]
    assert await client.hget(k.key_busy, "k") == b"1"
    await queue.release("leaving", [kept])  # a worker that shuts down hands its job back
    assert not await client.exists(k.key_busy)
    # Both went back first in line, and the key may run two again.
    again = (await queue.take("w1", 4)).jobs
    assert [j.id for j in again] == [kept.id, lost.id]
    assert await client.hget(k.key_busy, "k") == b"2"
    # An ack whose reply was lost, sent again: the second is a no-op, the count ends at none.
    done = [(j.id, j.token, "ok") for j in again]
    assert await queue.ack("w1", done) == [Acked.COMPLETED, Acked.COMPLETED]
    assert await queue.ack("w1", done) == [Acked.ALREADY, Acked.ALREADY]
    assert not await client.exists(k.key_busy)
    assert (await check(queue)).violations == []


async def test_a_retry_after_backoff_goes_back_first_in_line(
    queue: Queue, clock: FakeClock
) -> None:
    ids = await backlog(queue, "k", 3)
    [job] = (await queue.take("w1", 1)).jobs
    assert await queue.fail("w1", [Failure(job, "flaky")]) == [Status.DELAYED]
    clock.advance(3600)
    assert await queue.promote_due() == 1
    assert [j.id for j in (await queue.take("w1", 3)).jobs] == ids


async def test_fairness_key_sources(queue: Queue) -> None:
    tenant = Fairness(source="metadata.tenant")
    queue.config = dataclasses.replace(queue.config, fairness=tenant)
    for submitter in ("a1", "a2", "a3"):
        await queue.enqueue(submission(submitter_id=submitter, metadata={"tenant": "acme"}))
    await queue.enqueue(submission(submitter_id="b1", metadata={"tenant": "beta"}))
    await queue.enqueue(submission(submitter_id="c1"))  # no label: its submitter
    await queue.enqueue(submission(submitter_id="d1", fairness_key="own", metadata={"tenant": "x"}))
    share = await queue.fair_share()
    assert {s.key: s.waiting for s in share.keys} == {"acme": 3, "beta": 1, "c1": 1, "own": 1}
    with pytest.raises(InvalidSubmission) as err:
        await queue.enqueue(submission(metadata={"tenant": "no spaces"}))
    assert err.value.field == "submission.metadata[tenant]"
    with pytest.raises(InvalidSubmission) as err:
        await queue.enqueue(submission(fairness_key="x" * 129))
    assert err.value.field == "submission.fairness_key"
    with pytest.raises(InvalidSubmission) as err:
        await queue.enqueue(submission(priority=7))
    assert err.value.field == "submission.priority"
    fifo = Fairness(source="none")
    queue.config = dataclasses.replace(queue.config, fairness=fifo)
    await queue.enqueue(submission(submitter_id="z", fairness_key="ignored"))
    assert {s.key for s in (await queue.fair_share()).keys} >= {SHARED_KEY}


async def test_delete_of_a_waiting_job_keeps_the_books(queue: Queue) -> None:
    [a, b] = await backlog(queue, "k", 2)
    await queue.delete(a)
    share = await queue.fair_share()
    assert [(s.key, s.waiting) for s in share.keys] == [("k", 1)]
    await queue.delete(b)
    share = await queue.fair_share()
    assert (share.keys, share.keys_waiting, (await queue.stats()).waiting) == ([], 0, 0)
    assert (await check(queue)).violations == []


async def test_fair_share_lists_the_top_keys_and_sums_the_rest(queue: Queue) -> None:
    for i in range(12):
        await backlog(queue, f"k{i:02d}", i + 1)
    await backlog(queue, "hi", 2, HIGH)
    await backlog(queue, "lo", 3, LOW)
    await queue.set_quota("k11", weight=3, max_active=7)
    # Start 0 goes to low first (the guard), then high's two, then k00's one: 12 keys left.
    assert keys_of(await take(queue, 4)) == {"lo": 1, "hi": 2, "k00": 1}
    share = await queue.fair_share(top=3)
    assert [s.key for s in share.keys] == ["k11", "k10", "k09"]
    assert (share.keys[0].quota.weight, share.keys[0].custom) == (3, True)
    assert share.keys_waiting == 12
    assert share.waiting_high + share.waiting_normal + share.waiting_low == 78 + 5 - 4
    assert (share.waiting_high, share.waiting_low) == (0, 2)
    assert sum(s.waiting for s in share.keys) + share.other.waiting == 79
    assert sum(s.active for s in share.keys) + share.other.active == 4
    assert share.quotas == {"k11": share.keys[0].quota}


# The one rule of a submission's lane is Lua's (lib/submission.lua), reading the stored
# payload; Python fills fairness_key from the configured source first. They must agree.
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    subs=st.lists(
        st.tuples(
            st.sampled_from(["s1", "s2", "a:b@c.d"]),
            st.sampled_from(["", "s1", "team-9", "T.x_y"]),
            st.sampled_from([0, 1, 2, 3]),
            st.sampled_from(["", "essay"]),
        ),
        min_size=1,
        max_size=8,
    ),
    source=st.sampled_from(["submitter_id", "kind", "metadata.team"]),
)
async def test_lua_puts_each_submission_where_python_says(
    client: Redis, queue_name: str, subs: list[tuple[str, str, int, str]], source: str
) -> None:
    queue = Queue(client, dataclasses.replace(Queue(client).config, name=queue_name + "p"))
    queue.config = dataclasses.replace(queue.config, fairness=Fairness(source=source))
    expected: Counter[tuple[int, str]] = Counter()
    level = {0: 2, 1: 3, 2: 2, 3: 1}
    for submitter, own, priority, kind in subs:
        meta = {"team": "t-" + submitter.replace(":", "").replace("@", "")}
        sub = submission(submitter_id=submitter, fairness_key=own, priority=priority, kind=kind)
        sub.metadata.update(meta)
        await queue.enqueue(sub)
        key = (
            own
            or {
                "submitter_id": submitter,
                "kind": kind or "default",
                "metadata.team": meta["team"],
            }[source]
        )
        expected[(level[priority], key)] += 1
    k = queue.keys
    lanes = {(lv, key): await client.llen(k.lane(lv, key)) for (lv, key) in expected}
    assert lanes == dict(expected)
    await client.delete(*[k.lane(lv, key) for lv, key in expected], k.fair)
    for level_ in (1, 2, 3):
        await client.delete(k.ready(level_))


async def test_an_upgrade_moves_the_old_waiting_list_into_lanes(
    queue: Queue, client: Redis
) -> None:
    # Jobs a version before lanes left waiting: records WAITING, ids in `{fbq:Q}:waiting`
    # (LPUSH in, first in line at the right end).
    ids = await backlog(queue, "old", 3)
    k = queue.keys
    await client.delete(k.lane(2, "old"), k.ready(2), k.fair)
    await client.lpush(k.legacy_waiting, *ids)
    done = (await queue.enqueue(submission("finished", submitter_id="old"))).id
    [finished] = (await queue.take("w0", 1)).jobs
    await queue.ack("w0", [(finished.id, finished.token, "ok")])
    await client.lpush(k.legacy_waiting, done)  # a stale copy of a finished job only leaves
    assert await queue.adopt_waiting(batch=2) == 3
    assert not await client.exists(k.legacy_waiting)
    assert await queue.waiting_ids() == ids
    assert (await check(queue)).violations == []
    assert await queue.adopt_waiting() == 0


async def test_a_take_looks_past_keys_it_holds(queue: Queue) -> None:
    # More keys at their max_active than one take loads, all before the one free key.
    await queue.set_quota("zfree", weight=0.5)
    for i in range(12):
        await queue.set_quota(f"busy{i:02d}", max_active=1)
        await backlog(queue, f"busy{i:02d}", 2)
    await backlog(queue, "zfree", 3)
    first = (await queue.take("w1", 13)).jobs
    assert keys_of(first) == {**{f"busy{i:02d}": 1 for i in range(12)}, "zfree": 1}
    # Now every busy key is at its cap and comes first (turn 1 against zfree's 2): a take of
    # two loads three, holds them, and must look further rather than come back empty.
    assert keys_of((await queue.take("w1", 2)).jobs) == {"zfree": 2}
    assert (await check(queue)).violations == []


async def test_the_sweep_forgets_the_start_counts_of_keys_with_nothing_waiting(
    queue: Queue,
) -> None:
    await backlog(queue, "done", 1)
    await backlog(queue, "keeps", 3)
    jobs = (await queue.take("w1", 2)).jobs
    assert keys_of(jobs) == {"done": 1, "keeps": 1}
    await queue.ack("w1", [(jobs[0].id, jobs[0].token, "ok")])
    await queue.sweep()
    share = await queue.fair_share()
    # "done" has nothing waiting (its one job runs or ran): its count goes; "keeps" keeps its.
    assert {s.key: (s.waiting, s.active, s.started) for s in share.keys} == {"keeps": (2, 1, 1)}
    assert (share.other.waiting, share.other.active, share.other.started) == (0, 0, 1)
    assert await queue.client.hkeys(queue.keys.key_starts) == [b"keeps"]


async def test_two_quota_changes_at_once_lose_neither(queue: Queue) -> None:
    # Each change names one value; the merge with the key's current quota is the script's.
    await asyncio.gather(
        *(queue.set_quota("k", weight=3) for _ in range(5)),
        *(queue.set_quota("k", max_active=7) for _ in range(5)),
        *(queue.set_quota("k", rate=2.5) for _ in range(5)),
    )
    share = await queue.fair_share()
    assert share.quotas == {"k": Quota(3, 2.5, 7)}
