"""Faust's aiokafka transport with a short consumer fetch wait.

Faust hard-codes ``fetch_max_wait_ms=1500`` for the worker's consumer, and aiokafka leaves
partitions that still hold buffered records out of its next fetch request. When the broker
then has nothing new for the partitions that *are* in the request, it holds the request for
the full 1.5 s, and records waiting on the other partitions (our internal steps topic, say)
wait with it: seconds of latency at moderate load. A short wait bounds that stall.

Registered as the ``pagepilot://`` broker scheme through the ``faust.transports`` entry point.
The app's ``broker_credentials`` come from :func:`broker_credentials`.
"""

from __future__ import annotations

import faust
from faust.transport.drivers import aiokafka

from stream.config import Settings

FETCH_MAX_WAIT_MS = 50


class ConsumerThread(aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by the fetcher at start
        return consumer


class Consumer(aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(aiokafka.Transport):
    Consumer = Consumer


def broker_credentials(config: Settings) -> faust.types.auth.CredentialsT | None:
    """The worker's Kafka security, as Faust takes it (None for PLAINTEXT).

    Faust turns these into the same aiokafka options as :meth:`Settings.kafka_options`; the
    credentials' repr shows the user name only.
    """
    if config.uses_sasl:  # with a TLS context Faust speaks SASL_SSL, without SASL_PLAINTEXT
        return faust.SASLCredentials(username=config.sasl_username,
                                     password=config.sasl_password,
                                     mechanism=config.sasl_mechanism,
                                     ssl_context=config.ssl_context())
    if config.uses_tls:
        return faust.SSLCredentials(config.ssl_context())
    return None
