"""The tools the benchmark sets side by side, each behind the same small interface (:class:`Peer`)."""
