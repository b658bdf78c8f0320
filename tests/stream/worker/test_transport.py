"""A canary for upgrades: every private part of Faust and aiokafka that stream/worker/transport.py
relies on still exists on the installed versions, and the hole check blocks the commits
Faust would let pass."""

import importlib
import inspect

import pytest

from stream.worker import transport
from stream.worker.transport import PRIVATE_ATTRIBUTES, PRIVATE_METHODS, hole_at_head


@pytest.mark.parametrize("cls, name", [(cls, name) for cls, names in PRIVATE_METHODS.items()
                                       for name in names])
def test_the_private_methods_we_override_still_exist(cls, name):
    assert callable(getattr(cls, name, None)), f"{cls.__qualname__}.{name} is gone"


@pytest.mark.parametrize("where, name", [(where, name) for where, names in
                                         PRIVATE_ATTRIBUTES.items() for name in names])
def test_the_private_attributes_we_read_are_still_set(where, name):
    module, cls, method = where.rsplit(".", 2)
    source = inspect.getsource(getattr(getattr(importlib.import_module(module), cls), method))
    assert f"self.{name} =" in source or f"self.{name}:" in source, f"{where} sets no {name}"


def test_our_consumer_overrides_only_what_the_canary_checks():
    overridden = {name for name, value in vars(transport.Consumer).items()
                  if name.startswith("_") and not name.startswith("__") and callable(value)}
    checked = {name for names in PRIVATE_METHODS.values() for name in names}
    assert overridden <= checked


def test_a_hole_at_the_committed_offset_blocks_the_commit():
    assert hole_at_head(10, [11, 12]) and not hole_at_head(10, [10, 11])
