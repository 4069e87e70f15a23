"""The sans-I/O core of chutes-client.

Rule: nothing in this package performs I/O or imports a transport (httpx, httpx_sse,
asyncio, anyio, socket) or sleeps. It takes values in and returns decisions, requests and
decoded objects out; the facades in ``chutes._client`` and ``chutes._async_client`` run it.
"""
