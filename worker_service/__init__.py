"""The worker service: reliable consumption, retries with backoff, rate limiting, processors."""
