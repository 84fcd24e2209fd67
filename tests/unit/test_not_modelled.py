"""``flowsim.sdk.not_modelled``: refused names raise where they are looked up, and a name
the class defines cannot be refused as well (it would shadow the real method)."""

import pytest

from flowsim import NotModelledAttributeError
from flowsim.sdk.not_modelled import refuse


def test_a_refused_name_raises_on_the_instance_and_the_class_naming_where() -> None:
    @refuse("box {name!r}", "lids", "use the top", "lid", "aio_lid")
    class Box:
        name = "crate"

    with pytest.raises(NotModelledAttributeError, match=r"^box 'crate'\.lid belongs to lids"):
        Box().lid  # noqa: B018
    with pytest.raises(NotModelledAttributeError, match=r"box '\.\.\.'\.aio_lid .*use the top"):
        Box.aio_lid  # noqa: B018


def test_a_defined_name_cannot_be_refused() -> None:
    class Box:
        def lid(self) -> None: ...

    with pytest.raises(TypeError, match=r"Box\.lid is defined"):
        refuse("box", "lids", "use the top", "lid")(Box)
