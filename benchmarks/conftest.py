"""Markers for the benchmark suite."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: large shapes and torch.compile cases (deselect with -m 'not slow')")
