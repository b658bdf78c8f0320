"""The pure code: records, validation, sessions, page clusters, learning, the policy, a shard's
state and offline evaluation. Nothing below imports Kafka, RocksDB or the worker; of Faust only
the records of :mod:`stream.core.models` (``faust.Record``, for the topics' serializers)."""
