"""Every Redis key name of a queue; no other module spells one.

All keys of queue Q share the hash tag ``{fbq:Q}``: one queue lives in one Redis Cluster slot,
so every script stays single-slot.

======================================  ======  ==================================================
key                                     type    role
======================================  ======  ==================================================
``{fbq:Q}:lane:<p>:<key>``              list    ids ready to run of fairness key <key> at
                                                priority level <p> (1 high, 2 normal, 3 low);
                                                LPUSH in, RPOP out (scripts/lib/lanes.lua)
``{fbq:Q}:ready:<p>``                   zset    level p's keys with waiting work that may start
                                                now -> virtual start time (fair queueing)
``{fbq:Q}:held``                        zset    "<p>:<key>" -> until when (ms) a lane waits for
                                                its key's rate, or HELD_CAP while the key is at
                                                its max_active
``{fbq:Q}:capped``                      set     keys with a lane held at max_active
``{fbq:Q}:fair``                        hash    ``waiting`` (count), ``w<p>`` (level p's share),
                                                ``v<p>`` (each level's virtual time), ``n``
                                                (starts, for the guard)
``{fbq:Q}:wake``                        list    a token for idle workers (BLPOP) when work is
                                                ready
``{fbq:Q}:quotas``                      hash    key -> "weight rate max_active" (own quotas)
``{fbq:Q}:key-starts``                  hash    key -> its starts since it last had nothing
                                                waiting
``{fbq:Q}:key-busy``                    hash    key -> its ACTIVE submissions, for keys whose
                                                starts count against a max_active
``{fbq:Q}:waiting``                     list    only in a queue made before lanes: its ids move
                                                into their lanes (adopt_waiting.lua)
``{fbq:Q}:key-rate:<key>``              string  per-key start rate state (GCRA, with a TTL)
``{fbq:Q}:active:<worker>``             list    one processing list per worker
``{fbq:Q}:workers``                     zset    worker id -> last heartbeat (ms, Redis time)
``{fbq:Q}:reaper``                      hash    ``calm``: nobody is reaped until then (ms, Redis
                                                time), set after a gap in the beats (watch.lua)
``{fbq:Q}:reaped``                      zset    worker id -> when the reaper took it for dead
                                                (ms, Redis time): its list is watched for a day
``{fbq:Q}:delayed``                     zset    id -> when due (ms): retry backoff, delayed submit
``{fbq:Q}:failed``                      zset    dead letters: id -> when it failed (ms)
``{fbq:Q}:completed``                   zset    id -> when it completed (ms); index for listing,
                                                trimmed to the retention period
``{fbq:Q}:cancelled``                   zset    id -> when it was cancelled (ms); index for
                                                listing and for idempotency keys that outlive
                                                the record, trimmed to the longer of the
                                                retention period and the idempotency TTL
``{fbq:Q}:job:<id>``                    string  the job record (see ``record.py``); PEXPIRE only
                                                once COMPLETED or CANCELLED
``{fbq:Q}:started``                     hash    ACTIVE job id -> "<worker>|<started ms>|<fence>|
                                                <key>[|1]": who holds the attempt, its token,
                                                its fairness key (|1: key-busy counts it);
                                                moved into the record when the attempt ends
``{fbq:Q}:progress``                    hash    job id -> "<token>|<ms>|<report>": the latest
                                                progress report of the attempt of that token
                                                (MessagePack); read only while that attempt runs
``{fbq:Q}:leases``                      zset    job id -> when its attempt last reported (ms,
                                                Redis time): the attempt's own lease; the sweep
                                                drops those older than the grace
``{fbq:Q}:timing``                      hash    the fleet's histograms of queue wait and
                                                processing time (timing.py): "<name>|<labels>|
                                                <bucket>" -> count, "...|sum" -> seconds
``{fbq:Q}:timing-batch:<worker>``       string  the last batch of counts a worker added (a
                                                TTL of a day: a replay is not counted twice)
``{fbq:Q}:idem``                        hash    idempotency key -> "<id>:<payload digest>"
``{fbq:Q}:idem-expiry``                 zset    idempotency key -> when the record may go (ms)
``{fbq:Q}:stats``                       hash    monotonic counters (enqueued, completed, ...,
                                                stale_outcomes) and ``fence``, the last token
``{fbq:Q}:paused``                      string  present while the queue is paused
``{fbq:Q}:limiter``                     string  global rate limiter state
``{fbq:Q}:submitter:<id>``              string  per-submitter rate state (GCRA arrival time; a
                                                TTL: eviction only forgets a limit, not data)
``{fbq:Q}:principal:<name>``            string  per-principal rate state (GCRA, as above)
``{fbq:Q}:lock:<name>``                 string  housekeeping lock (SET NX PX)
======================================  ======  ==================================================

Scripts that touch job records named by ids read from lists receive the job key prefix
``{fbq:Q}:job:`` as a KEYS entry, so cluster routing sees the queue's slot.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot


@dataclass(frozen=True)
class Keys:
    """The key names of one queue."""

    queue: str

    @property
    def tag(self) -> str:
        return "{fbq:" + self.queue + "}"

    @property
    def lane_prefix(self) -> str:
        return f"{self.tag}:lane:"

    def lane(self, level: int, key: str) -> str:
        return f"{self.lane_prefix}{level}:{key}"

    @property
    def legacy_waiting(self) -> str:
        """The one waiting list of versions before lanes: read only to empty it."""
        return f"{self.tag}:waiting"

    @property
    def ready_prefix(self) -> str:
        return f"{self.tag}:ready:"

    def ready(self, level: int) -> str:
        return f"{self.ready_prefix}{level}"

    @property
    def held(self) -> str:
        return f"{self.tag}:held"

    @property
    def capped(self) -> str:
        return f"{self.tag}:capped"

    @property
    def fair(self) -> str:
        return f"{self.tag}:fair"

    @property
    def wake(self) -> str:
        return f"{self.tag}:wake"

    @property
    def quotas(self) -> str:
        return f"{self.tag}:quotas"

    @property
    def key_starts(self) -> str:
        return f"{self.tag}:key-starts"

    @property
    def key_busy(self) -> str:
        return f"{self.tag}:key-busy"

    @property
    def key_rate_prefix(self) -> str:
        return f"{self.tag}:key-rate:"

    def lanes_block(self) -> list[str]:
        """The KEYS block of every script that moves waiting work (scripts/lib/lanes.lua's
        `lanes_keys` reads it in this order)."""
        return [
            self.lane_prefix,
            self.ready_prefix,
            self.held,
            self.capped,
            self.fair,
            self.wake,
            self.quotas,
            self.key_starts,
            self.key_busy,
            self.key_rate_prefix,
        ]

    @property
    def workers(self) -> str:
        return f"{self.tag}:workers"

    @property
    def delayed(self) -> str:
        return f"{self.tag}:delayed"

    @property
    def failed(self) -> str:
        return f"{self.tag}:failed"

    @property
    def completed(self) -> str:
        return f"{self.tag}:completed"

    @property
    def cancelled(self) -> str:
        return f"{self.tag}:cancelled"

    @property
    def timing(self) -> str:
        return f"{self.tag}:timing"

    def timing_batch(self, worker: str) -> str:
        return f"{self.tag}:timing-batch:{worker}"

    @property
    def progress(self) -> str:
        return f"{self.tag}:progress"

    @property
    def leases(self) -> str:
        return f"{self.tag}:leases"

    @property
    def job_prefix(self) -> str:
        return f"{self.tag}:job:"

    @property
    def active_prefix(self) -> str:
        return f"{self.tag}:active:"

    @property
    def started(self) -> str:
        return f"{self.tag}:started"

    @property
    def idem(self) -> str:
        return f"{self.tag}:idem"

    @property
    def idem_expiry(self) -> str:
        return f"{self.tag}:idem-expiry"

    @property
    def stats(self) -> str:
        return f"{self.tag}:stats"

    @property
    def paused(self) -> str:
        return f"{self.tag}:paused"

    @property
    def reaper(self) -> str:
        return f"{self.tag}:reaper"

    @property
    def reaped(self) -> str:
        return f"{self.tag}:reaped"

    @property
    def limiter(self) -> str:
        return f"{self.tag}:limiter"

    def job(self, job_id: str) -> str:
        return f"{self.job_prefix}{job_id}"

    def active(self, worker: str) -> str:
        return f"{self.active_prefix}{worker}"

    @property
    def submitter_prefix(self) -> str:
        return f"{self.tag}:submitter:"

    def submitter(self, submitter_id: str) -> str:
        return f"{self.submitter_prefix}{submitter_id}"

    @property
    def principal_prefix(self) -> str:
        return f"{self.tag}:principal:"

    def principal(self, name: str) -> str:
        return f"{self.principal_prefix}{name}"

    def lock(self, name: str) -> str:
        return f"{self.tag}:lock:{name}"


def shard_names(queue: str, shards: int) -> list[str]:
    """The queues one logical queue spreads over (FBQ_SHARDS): itself when 1.

    Shard i is named `<queue>.<i>`, or `<queue>.<i>.<k>` with the smallest k that puts its hash
    tag in the i-th n-th of the slot space: a cluster whose slots are split evenly over its
    masters then holds the shards on different masters. Deterministic, so every process agrees.
    """
    if shards <= 1:
        return [queue]
    names = []
    width = REDIS_CLUSTER_HASH_SLOTS / shards
    for i in range(shards):
        name, k = f"{queue}.{i}", 0
        while int(key_slot(Keys(name).tag.encode()) // width) != i:
            k += 1
            name = f"{queue}.{i}.{k}"
        names.append(name)
    return names
