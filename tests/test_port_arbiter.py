import threading

import pytest

from pymodaq_plugins_aefi.adapters.port_arbiter import LeaseBusyError, PortArbiter, link_key


class FakeLink:
    def __init__(self, name):
        self.name, self.closed = name, False

    def close(self):
        self.closed = True


class FakeHolder:
    holder_name = "DAQ_Move_AEFI"

    def __init__(self, link):
        self.link, self.events = link, []

    def release_link(self):
        self.events.append("release")
        link, self.link = self.link, None
        return link

    def restore_link(self, link):
        self.events.append("restore")
        self.link = link


def test_link_key_ignores_options():
    assert link_key("sim://bench?baud=9600") == link_key("sim://bench") == "sim://bench"
    assert link_key("serial:///dev/ttyUSB0?baud=115200") == "serial:///dev/ttyUSB0"


def test_holder_releases_and_gets_link_back_even_on_error():
    arbiter = PortArbiter("sim://t1", opener=lambda url: pytest.fail("must reuse the holder's link"))
    link = FakeLink("a")
    holder = FakeHolder(link)
    arbiter.attach(holder)
    with pytest.raises(RuntimeError), arbiter.lease("flyscan") as lent:
        assert lent is link and holder.link is None
        assert arbiter.borrower == "flyscan"
        raise RuntimeError("fault mid-scan")
    assert holder.link is link and holder.events == ["release", "restore"]
    assert arbiter.borrower is None and not link.closed


def test_without_holder_the_arbiter_opens_and_closes():
    opened = []
    arbiter = PortArbiter("sim://t2", opener=lambda url: opened.append(FakeLink(url)) or opened[-1])
    with arbiter.lease("flyscan") as lent:
        assert lent is opened[0]
    assert opened[0].closed


def test_second_borrower_is_refused_while_lent():
    arbiter = PortArbiter("sim://t3", opener=lambda url: FakeLink(url))
    entered, leave = threading.Event(), threading.Event()

    def first():
        with arbiter.lease("line 1"):
            entered.set()
            leave.wait(5)

    t = threading.Thread(target=first)
    t.start()
    assert entered.wait(5)
    with pytest.raises(LeaseBusyError, match="lent to line 1"), arbiter.lease("line 2"):
        pass
    leave.set()
    t.join(5)


def test_registry_is_per_instrument():
    a = PortArbiter.for_url("sim://t4?baud=9600", opener=FakeLink)
    assert PortArbiter.for_url("sim://t4", opener=FakeLink) is a
    assert PortArbiter.for_url("sim://t5", opener=FakeLink) is not a


def test_two_holders_cannot_attach():
    arbiter = PortArbiter("sim://t6", opener=FakeLink)
    arbiter.attach(FakeHolder(FakeLink("a")))
    with pytest.raises(LeaseBusyError):
        arbiter.attach(FakeHolder(FakeLink("b")))
