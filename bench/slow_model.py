"""An Anthropic-protocol model server that answers after a delay: `python -m bench.slow_model
PORT DELAY_S`. `GET /count` says how many requests it has answered."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from bot.localmodel.anthropic_wire import AnthropicServer


class SlowAnthropic(AnthropicServer):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.answered = 0

    async def messages(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay)
        response = await super().messages(request)
        self.answered += 1
        return response

    async def count(self, _request: web.Request) -> web.Response:
        return web.json_response({"answered": self.answered})


def main() -> None:
    server = SlowAnthropic(float(sys.argv[2]))
    app = server.app()
    app.router.add_get("/count", server.count)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
