"""Command handling: load aggregate state from the store, let the domain decide, append the result."""

from bank_pipeline.application.command_bus import BusClosed, CommandBus
from bank_pipeline.application.handler import CommandHandler, CommandResult, RetriesExhausted

__all__ = ["BusClosed", "CommandBus", "CommandHandler", "CommandResult", "RetriesExhausted"]
