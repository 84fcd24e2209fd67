"""The payment gateway client. A stand-in: the sample makes no network calls, and the tests
replace ``charge`` with a gateway that fails (see tests/test_checkout.py)."""

import itertools

_receipts = itertools.count(1)


async def charge() -> str:
    return f"receipt-{next(_receipts)}"
