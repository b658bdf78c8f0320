"""Online learning, free of Faust and Kafka: the same classes run in the worker, in `pagepilot evaluate` and in unit tests."""
