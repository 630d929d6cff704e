"""Replay to any instant: a job an investigator launches from the UI to see an account as of an instant."""
