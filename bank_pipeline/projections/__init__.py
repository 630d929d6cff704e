"""The read side: projections of the event store into schema `projections` (sql/011), kept current by the
projector, rebuilt from scratch without downtime, and read as of any instant."""
