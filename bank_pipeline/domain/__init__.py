"""The pure banking domain: money, events, aggregate states and the command decisions."""
