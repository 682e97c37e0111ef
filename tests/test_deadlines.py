"""Many deadlines on one loop timer (probes/_deadlines.py)."""

from __future__ import annotations

import asyncio

from slaprobe.probes._deadlines import Deadlines


class Item:
    def __init__(self, log: list[tuple[str, float]], name: str) -> None:
        self.log, self.name, self.finished = log, name, False

    def expire(self) -> None:
        self.finished = True
        self.log.append((self.name, asyncio.get_running_loop().time()))


def test_items_expire_in_deadline_order_never_before_their_deadline() -> None:
    async def go() -> tuple[list[tuple[str, float]], dict[str, float]]:
        loop = asyncio.get_running_loop()
        log: list[tuple[str, float]] = []
        deadlines = Deadlines(loop)
        now = loop.time()
        due = {"late": now + 0.06, "early": now + 0.02, "middle": now + 0.04}
        for name, when in due.items():
            deadlines.add(when, Item(log, name))
        await asyncio.sleep(0.1)
        return log, due
    log, due = asyncio.run(go())
    assert [name for name, _ in log] == ["early", "middle", "late"]
    assert all(at >= due[name] - 1e-6 for name, at in log)


def test_a_finished_item_never_expires_and_its_entry_goes() -> None:
    async def go() -> tuple[list[tuple[str, float]], int, int]:
        loop = asyncio.get_running_loop()
        log: list[tuple[str, float]] = []
        deadlines = Deadlines(loop)
        done = [Item(log, f"done{i}") for i in range(50)]
        for item in done:
            deadlines.add(loop.time() + 0.01, item)
        for item in done:
            item.finished = True  # answered long before its deadline
        kept_before = len(deadlines)
        deadlines.add(loop.time() + 0.03, Item(log, "open"))  # drops finished entries on top
        kept_after = len(deadlines)
        await asyncio.sleep(0.06)
        return log, kept_before, kept_after
    log, kept_before, kept_after = asyncio.run(go())
    assert [name for name, _ in log] == ["open"]
    assert (kept_before, kept_after) == (50, 1)


def test_one_loop_timer_serves_every_deadline() -> None:
    async def go() -> int:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop)
        before = len(loop._scheduled)  # type: ignore[attr-defined]
        for i in range(200):
            deadlines.add(loop.time() + 5 + i / 1000, Item([], str(i)))
        return len(loop._scheduled) - before  # type: ignore[attr-defined]
    assert asyncio.run(go()) == 1


def test_an_earlier_deadline_added_later_still_expires_on_time() -> None:
    async def go() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        log: list[tuple[str, float]] = []
        deadlines = Deadlines(loop)
        deadlines.add(loop.time() + 5, Item(log, "far"))
        deadlines.add(loop.time() + 0.02, Item(log, "near"))
        await asyncio.sleep(0.05)
        return log
    assert [name for name, _ in asyncio.run(go())] == ["near"]


def test_an_item_expiring_may_add_another() -> None:
    async def go() -> list[str]:
        loop = asyncio.get_running_loop()
        log: list[tuple[str, float]] = []
        deadlines = Deadlines(loop)

        class Chain(Item):
            def expire(self) -> None:
                super().expire()
                deadlines.add(loop.time() + 0.01, Item(log, "second"))
        deadlines.add(loop.time() + 0.01, Chain(log, "first"))
        await asyncio.sleep(0.06)
        return [name for name, _ in log]
    assert asyncio.run(go()) == ["first", "second"]


def test_close_returns_the_unfinished_items_and_stops_the_timer() -> None:
    async def go() -> tuple[list[str], list[tuple[str, float]]]:
        loop = asyncio.get_running_loop()
        log: list[tuple[str, float]] = []
        deadlines = Deadlines(loop)
        done, open_ = Item(log, "done"), Item(log, "open")
        deadlines.add(loop.time() + 0.01, done)
        deadlines.add(loop.time() + 0.01, open_)
        done.finished = True
        left = [item.name for item in deadlines.close()]  # type: ignore[attr-defined]
        await asyncio.sleep(0.03)
        return left, log
    left, log = asyncio.run(go())
    assert left == ["open"] and log == []
