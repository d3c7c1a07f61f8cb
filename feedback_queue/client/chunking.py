"""Cutting many submissions into SubmitBatch calls by count and by serialized bytes (pure)."""

from __future__ import annotations

from collections.abc import Sequence

# The tag of `SubmitBatchRequest.requests` (field 1, length-delimited): one byte.
_TAG_BYTES = 1


def framed(size: int) -> int:
    """The bytes a SubmitRequest of `size` bytes adds to a SubmitBatchRequest: the field's
    tag, the varint of its length, and itself."""
    length_bytes = 1
    while size >= 1 << (7 * length_bytes):
        length_bytes += 1
    return _TAG_BYTES + length_bytes + size


def chunks(sizes: Sequence[int], max_items: int, max_bytes: int) -> list[range]:
    """Consecutive ranges of indexes of `sizes` (framed bytes), each at most `max_items` long
    and `max_bytes` in all; an item over `max_bytes` alone gets a range of its own (the server
    will say what is wrong with it)."""
    ranges: list[range] = []
    start, total = 0, 0
    for index, size in enumerate(sizes):
        count = index - start
        if count and (count >= max_items or total + size > max_bytes):
            ranges.append(range(start, index))
            start, total = index, 0
        total += size
    if start < len(sizes):
        ranges.append(range(start, len(sizes)))
    return ranges
