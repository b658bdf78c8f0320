"""Getting page views into Kafka: file loaders, the GStore-like generator and the replay."""
