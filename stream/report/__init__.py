"""The impact report (``pagepilot report``): what the learned recommendations would do to
value per session, conversion, bounce rate, pages per session and time on page.

``learned`` runs the worker's learning code and freezes the policy; ``decisions`` turns the
held-out sessions into arrays; ``model`` (the model-based counterfactual), ``offpolicy``
(IPS, SNIPS, DR) and ``impact`` (bootstrap) estimate; ``tables``, ``build``, ``plots`` and
``render`` make the report; ``from_kafka`` reads a running system's topics and ``logged``
makes the Logged experiment section of its outcomes (logged propensities); ``command`` is
the CLI.
Method and assumptions: docs/report.md.
"""
