"""Two nodes embedded in one Python process, driven through the generated
bindings as an app would: post, book, take, every trade step to Completed,
events through the callback, pause and resume, typed errors.

Run by scripts/test-bindings (which generates the bindings first):
    PYTHONPATH=OUT/python python3 -m unittest discover -s crates/peerfx-ffi/tests/python
Loopback only, ephemeral ports, temporary data directories, no mDNS.
"""

import asyncio
import tempfile
import threading
import time
import unittest

import peerfx_ffi as fx

TIMEOUT = 60.0
MARKET = "EUR-USD"


async def eventually(what, check):
    """Polls `check` until it returns something truthy, or fails at TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Events(fx.EventListener):
    """Keeps every event; called on the node's event thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []

    def on_event(self, event):
        with self.lock:
            self.seen.append(event)

    def trade_states(self, trade_id):
        with self.lock:
            return [e.state for e in self.seen if e.is_trade_updated() and e.id == trade_id]


def options(data_dir, bootstrap=()):
    return fx.NodeOptions(
        data_dir=data_dir,
        profile=fx.Profile.MOBILE,
        listen=["/ip4/127.0.0.1/tcp/0"],
        bootstrap=list(bootstrap),
        markets=[MARKET],
        mdns=False,
    )


class TwoNodes(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.dirs = [tempfile.TemporaryDirectory() for _ in range(2)]
        self.maker = await fx.start_node(options(self.dirs[0].name))
        addr = (await self.maker.status()).listen_addrs[0]
        self.taker = await fx.start_node(options(self.dirs[1].name, [addr]))
        # An offer reaches at once only the peers known to follow its market.
        for a, b in ((self.maker, self.taker), (self.taker, self.maker)):
            peer = b.identity().peer_id

            async def follows(a=a, peer=peer):
                return peer in await a.market_peers(MARKET)

            await eventually("each side to see the other on the market", follows)

    async def asyncTearDown(self):
        for node in (self.taker, self.maker):
            await node.shutdown()
        for d in self.dirs:
            d.cleanup()

    async def test_post_book_take_and_complete_a_trade(self):
        events = Events()
        self.maker.set_listener(events)
        offer = await self.maker.post_offer(
            fx.OfferInput(give="EUR", want="USD", min="100", max="500", rate="1.08", pay=["sepa"])
        )
        self.assertEqual(offer.remaining, "500.00")
        self.assertEqual(offer.remaining_minor, 50000)
        self.assertEqual(offer.status, "open")

        async def in_book():
            found = await self.taker.book(fx.BookFilter(give="EUR", want="USD", amount="250"))
            return [o for o in found if o.id == offer.id]

        [seen] = await eventually("the offer in the taker's book", in_book)
        self.assertEqual((seen.rate, seen.maker), ("1.08", self.maker.identity().peer_id))

        trade = await self.taker.take(offer.id, "250", None, None)
        self.assertEqual((trade.role, trade.state), ("taker", "agreed"))
        self.assertEqual((trade.give_amount, trade.want_amount), ("250.00", "270.00"))
        self.assertEqual(trade.want_minor, 27000)

        steps = [
            (self.taker, fx.TradeStep.PAID()),
            (self.maker, fx.TradeStep.CHAT(text="got it, sending")),
            (self.maker, fx.TradeStep.RECEIVED()),
            (self.maker, fx.TradeStep.PAID()),
            (self.taker, fx.TradeStep.RECEIVED()),
        ]
        for node, step in steps:
            view = await node.trade_step(trade.id, step)
            self.assertEqual(view.undelivered, 0, f"{step} was not acknowledged")

        for node in (self.maker, self.taker):
            async def completed(node=node):
                return node.trade(trade.id).state == "completed"

            await eventually("the trade completed on both sides", completed)
        log = self.maker.trade(trade.id).log
        self.assertEqual(len(log), 5)
        self.assertEqual(log[1].step, fx.TradeStep.CHAT(text="got it, sending"))
        self.assertEqual(self.maker.own_offers(None, 0).items[0].remaining, "250.00")

        # The callback heard the trade start and complete, on the maker.
        async def heard():
            states = events.trade_states(trade.id)
            return "agreed" in states and "completed" in states

        await eventually("trade events through the callback", heard)

    async def test_errors_are_typed_and_change_nothing(self):
        with self.assertRaises(fx.PeerfxError.Invalid) as bad:
            await self.maker.post_offer(
                fx.OfferInput(give="EUR", want="XXX", min="1", max="2", rate="1")
            )
        self.assertEqual(bad.exception.code, "invalid")
        with self.assertRaises(fx.PeerfxError.Invalid) as bad:
            await self.maker.post_offer(
                fx.OfferInput(give="EUR", want="USD", min="1.001", max="2", rate="1")
            )
        self.assertIn("decimal", bad.exception.message)
        with self.assertRaises(fx.PeerfxError.NotFound) as missing:
            await self.taker.take("00" * 32, "1", None, None)
        self.assertEqual(missing.exception.code, "unknown_offer")
        self.assertEqual(self.maker.own_offers(None, 0).items, [])

    async def test_pause_and_resume(self):
        offer = await self.maker.post_offer(
            fx.OfferInput(give="EUR", want="USD", min="100", max="500", rate="1.08")
        )

        async def in_book():
            return any(o.id == offer.id for o in await self.taker.book(fx.BookFilter(market=MARKET)))

        await eventually("the offer in the taker's book", in_book)
        await self.taker.pause()
        self.assertTrue(self.taker.is_paused())
        status = await self.taker.status()
        self.assertEqual((status.paused, status.connected_peers, status.listen_addrs), (True, 0, []))
        # On loopback AutoNAT trusts nothing: not probed, no relay.
        self.assertEqual((status.reachability.nat, status.reachability.relays), ("unknown", []))
        with self.assertRaises(fx.PeerfxError.Paused):
            await self.taker.take(offer.id, "100", None, None)
        # Posted while the taker sleeps: it arrives after the resume.
        later = await self.maker.post_offer(
            fx.OfferInput(give="EUR", want="USD", min="100", max="500", rate="1.07")
        )
        await self.taker.resume()

        async def caught_up():
            return any(o.id == later.id for o in await self.taker.book(fx.BookFilter(market=MARKET)))

        await eventually("the offer posted during the pause", caught_up)


class Backup(unittest.IsolatedAsyncioTestCase):
    async def test_export_and_import_into_a_new_directory(self):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            node = await fx.start_node(options(a))
            await node.post_offer(fx.OfferInput(give="EUR", want="USD", min="1", max="2", rate="1.1"))
            backup = node.export_backup()
            identity = node.identity()
            await node.shutdown()
            del node
            stats = await fx.import_backup(options(b), backup)
            self.assertEqual(stats.offers, 1)
            restored = await fx.start_node(options(b))
            self.assertEqual(restored.identity(), identity)
            self.assertEqual(len(restored.own_offers(None, 0).items), 1)
            await restored.shutdown()


if __name__ == "__main__":
    unittest.main()
