import pytest

from .builders import make_guest, make_node, make_snapshot


@pytest.fixture
def node():
    return make_node


@pytest.fixture
def guest():
    return make_guest


@pytest.fixture
def snapshot():
    return make_snapshot
