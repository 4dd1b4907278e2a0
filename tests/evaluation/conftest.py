"""The evaluation tests run the tiny model of tests/eval_fixtures.py on one torch thread."""
import pytest


@pytest.fixture(scope='module', autouse=True)
def one_thread_for_every_module(one_thread):
    yield
