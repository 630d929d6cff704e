"""One small simulated bank shared by the simulator tests (no database needed), plus a twin and another seed."""

from datetime import date
from pathlib import Path

import pytest

from bank_pipeline.simulator import SimulationSummary, simulate
from bank_pipeline_tests.simulator.landing_zone import LandingZone

#: Thursday 19 November 2026 for nine days: a weekend, the salary day (Wednesday the 25th) and a second weekend.
ARGUMENTS = dict(customers=800, days=9, seed=7, start=date(2026, 11, 19), bad_share=0.02, legacy_share=0.2)


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    out = tmp_path_factory.mktemp("landing")
    return out, simulate(out=out, **ARGUMENTS)


@pytest.fixture(scope="session")
def landing(simulated) -> Path:
    return simulated[0]


@pytest.fixture(scope="session")
def summary(simulated) -> SimulationSummary:
    return simulated[1]


@pytest.fixture(scope="session")
def zone(landing) -> LandingZone:
    return LandingZone(landing)
