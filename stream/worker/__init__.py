"""The Faust worker: the app, the serving agent, its transport, checkpoints, snapshots, live
metrics and the web dashboard. Start it with ``pagepilot worker`` (:mod:`stream.worker.app`)."""
