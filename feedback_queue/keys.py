"""Every Redis key name of a queue; no other module spells one.

All keys of queue Q share the hash tag ``{fbq:Q}``: one queue lives in one Redis Cluster slot,
so BLMOVE and every script stay single-slot.

======================================  ======  ==================================================
key                                     type    role
======================================  ======  ==================================================
``{fbq:Q}:waiting``                     list    ids ready to run; LPUSH in, (B)LMOVE RIGHT out
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
``{fbq:Q}:job:<id>``                    string  the job record (see ``record.py``); PEXPIRE only
                                                once COMPLETED
``{fbq:Q}:started``                     hash    ACTIVE job id -> "<worker>|<started ms>|<fence>":
                                                who holds the attempt, and its token; moved
                                                into the record when the attempt ends
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
    def waiting(self) -> str:
        return f"{self.tag}:waiting"

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
