from __future__ import annotations

import pytest

from lrface.registry import Registry


def test_register_get_names_and_errors():
    r: Registry = Registry("thing")

    @r.register("alpha")
    def alpha():
        return 1

    r.register("beta", obj=lambda: 2)
    assert r.get("alpha")() == 1 and "beta" in r and len(r) == 2
    assert r.names("a*") == ["alpha"] and list(r) == ["alpha", "beta"]
    with pytest.raises(ValueError, match="already registered"):
        r.register("alpha", obj=lambda: 3)
    with pytest.raises(KeyError, match="Did you mean 'alpha'"):
        r.get("alpah")
