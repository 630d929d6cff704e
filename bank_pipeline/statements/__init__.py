"""Account statements: read from the projections, rendered as PDF, CSV, camt.053 or MT940, kept in a store."""
