"""Reading what the worker publishes: the recommendations subscriber."""
