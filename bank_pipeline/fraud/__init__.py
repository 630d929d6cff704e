"""Fraud detection on the event stream: the fast path that judges every entry as it becomes final (the rules
live in the pure domain, `bank_pipeline.domain.fraud`)."""
