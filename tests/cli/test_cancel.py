"""fbq cancel against a real ingest: by id (again: says so), and by filter after a count, which
a script must confirm with --yes."""

from __future__ import annotations

from feedback_queue.job import Status
from tests.cli.conftest import Fbq
from tests.helpers import submission
from tests.ingest.conftest import Ingest


async def test_cancel_by_id_then_again_then_a_finished_one(cli: Fbq, ingest: Ingest) -> None:
    queue = ingest.queue
    done = (await queue.enqueue(submission("two"))).id
    [job] = (await queue.take("w1", 1)).jobs
    await queue.ack("w1", [(job.id, job.token, "ok")])
    first = (await queue.enqueue(submission("one"))).id
    once = await cli("cancel", first)
    assert (once.code, once.out.strip()) == (0, f"cancelled {first}")
    again = await cli("cancel", first)
    assert (again.code, again.out.strip()) == (0, f"was cancelled already: {first}")
    finished = await cli("cancel", done, first)
    assert finished.code == 1
    assert "COMPLETED already" in finished.err
    assert (await queue.get(first)).status == Status.CANCELLED


async def test_cancel_by_filter_counts_first_and_needs_yes(cli: Fbq, ingest: Ingest) -> None:
    queue = ingest.queue
    for i in range(3):
        await queue.enqueue(submission(f"bob {i}", submitter_id="bob"))
    await queue.enqueue(submission("ann", submitter_id="ann"))
    counted = await cli("cancel", "--submitter", "bob", "--dry-run")
    assert (
        counted.out.strip()
        == "3 waiting or delayed submissions of submitter bob would be cancelled"
    )
    refused = await cli("cancel", "--submitter", "bob")  # no terminal here: needs --yes
    assert refused.code != 0
    assert "add --yes" in refused.err
    assert (await queue.stats()).cancelled_total == 0
    done = await cli("cancel", "--submitter", "bob", "--only", "waiting", "--yes")
    assert (done.code, done.out.strip()) == (0, "cancelled 3 waiting submissions of submitter bob")
    none = await cli("cancel", "--key", "bob", "--dry-run")
    assert none.out.strip() == "nothing matches"
    mixed = await cli("cancel", "X", "--submitter", "bob")
    assert mixed.code != 0
    assert "not both" in mixed.err
    stats = await queue.stats()
    assert (stats.cancelled_total, stats.waiting) == (3, 1)
