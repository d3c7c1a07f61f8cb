"""feedback_queue.client: the Python client of Feedback Queue's ingest service.

    from feedback_queue.client import AsyncClient

    async with AsyncClient.from_env() as client:          # FBQ_INGEST_ADDR, FBQ_GRPC_TOKEN, TLS
        job = await client.submit("My essay.", "learner-7")
        info = await client.wait(job.id)                   # COMPLETED; FAILED raises
        print(info.result)

`Client` is the blocking twin. Every call has a deadline, retries `Unavailable` within it, and
raises an `FbqError` subclass that says what to do; every submit carries an idempotency key.
See docs/client.md.

target    where ingest is, the token, TLS        channel   the service config, the channels
errors    the exceptions, from status details   values    Submission, Submitted, SubmitFailed
retry     the client's own retries              chunking  cutting many into SubmitBatch calls
batcher   AsyncClient's automatic batching      aio, sync AsyncClient, Client
"""

from feedback_queue.client.aio import AsyncClient
from feedback_queue.client.channel import published_service_config
from feedback_queue.client.errors import (
    Backpressure,
    Conflict,
    DeadlineExceeded,
    FbqError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ProcessingFailed,
    SubmissionCancelled,
    Unauthenticated,
    Unavailable,
)
from feedback_queue.client.retry import NO_RETRIES, RetryPolicy
from feedback_queue.client.sync import Client
from feedback_queue.client.target import Hints, Target
from feedback_queue.client.values import (
    BatchLimits,
    Status,
    Submission,
    SubmissionInfo,
    SubmitFailed,
    Submitted,
    new_key,
)

__all__ = [
    "NO_RETRIES",
    "AsyncClient",
    "Backpressure",
    "BatchLimits",
    "Client",
    "Conflict",
    "DeadlineExceeded",
    "FbqError",
    "Hints",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ProcessingFailed",
    "RetryPolicy",
    "Status",
    "Submission",
    "SubmissionCancelled",
    "SubmissionInfo",
    "SubmitFailed",
    "Submitted",
    "Target",
    "Unauthenticated",
    "Unavailable",
    "new_key",
    "published_service_config",
]
