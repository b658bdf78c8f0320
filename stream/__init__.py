"""PagePilot's stream: the settings (:mod:`.config`), the ``pagepilot`` command (:mod:`.cli`),
and by concern: the pure code of records, sessions, learning and the policy (:mod:`.core`), the
Faust worker (:mod:`.worker`), the embedded Kafka and its admin requests (:mod:`.kafka`), the
demo, benchmark and other tools (:mod:`.tools`) and the impact report (:mod:`.report`)."""
