"""PagePilot's Kafka: the embedded broker (:mod:`.broker`), the admin requests of clients and
tools (:mod:`.admin`), whether a cluster answers and takes our credentials
(:mod:`.credentials`) and ``pagepilot kafka ...`` (:mod:`.command`)."""
