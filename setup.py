"""The benchmark suites live in ``benchmarks/`` and ship in the wheel as ``energan.benchmarks``,
so an installed ``energan bench`` finds them; everything else is configured in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["energan*"]), "energan.benchmarks"],
    package_dir={"energan.benchmarks": "benchmarks"},
)
