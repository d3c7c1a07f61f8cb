"""Feedback Queue: a durable submission queue on Redis (the core library of the services).

The core imports nothing of ours above it: not the CLI (`feedback_queue.cli`), not `fbq up`
(`feedback_queue.up`), not the services. `python3 dev.py lint` checks it.
"""

from feedback_queue.errors import (
    ConfigError,
    Conflict,
    InvalidSubmission,
    NotFound,
    QueueAuthError,
    QueueError,
    QueueFull,
    QueueMisconfigured,
    QueueUnavailable,
    RateLimited,
)
from feedback_queue.job import Job, Status
from feedback_queue.queue import EnqueueResult, Failure, Queue, QueueStats
from feedback_queue.settings import QueueConfig, RedisSettings, Settings, WorkerConfig

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Conflict",
    "EnqueueResult",
    "Failure",
    "InvalidSubmission",
    "Job",
    "NotFound",
    "Queue",
    "QueueAuthError",
    "QueueConfig",
    "QueueError",
    "QueueFull",
    "QueueMisconfigured",
    "QueueStats",
    "QueueUnavailable",
    "RateLimited",
    "RedisSettings",
    "Settings",
    "Status",
    "WorkerConfig",
]
