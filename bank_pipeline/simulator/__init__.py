"""The workload simulator: a reproducible synthetic bank written into the landing zone as upstream systems deliver
it, with labelled fraud and injected bad records (ground truth under `_labels/`, which ingestion never reads)."""

from bank_pipeline.simulator.simulation import DEFAULT_START, SimulationError, SimulationSummary, simulate

__all__ = ["DEFAULT_START", "SimulationError", "SimulationSummary", "simulate"]
