"""The tools around the worker: the demo, the benchmark and the soak (and the processes and
bare Faust pass-through they start), model comparison, cluster-rule suggestions and the
progress line of long commands."""
