"""A real HTTP server on a free loopback port, in a thread: what each local fake of an outside
API (OSRM, Google, Stripe, Twilio) is built on, so the fakes differ only in what they answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer:
    def __init__(self) -> None:
        self.delay = 0.0  # seconds to hold each answer back (a slow service)
        self._stop = threading.Event()

    def held_back(self) -> bool:
        """Wait out ``delay``; True when the server shut down meanwhile (nobody is listening)."""
        # Short sleeps rather than ``Event.wait(delay)``: under libfaketime (the suite's any-date
        # check) a timed wait on a lock is passed to the kernel unfaked and hangs.
        end = time.monotonic() + self.delay
        while time.monotonic() < end:
            if self._stop.is_set():
                return True
            time.sleep(0.01)
        return False

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # Join handler threads on close so no thread outlives its test.
        self.httpd.daemon_threads = False
        self.httpd.block_on_close = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()


def respond(
    handler: BaseHTTPRequestHandler, status: int, data: bytes, headers: Mapping[str, str]
) -> None:
    """Send one answer; a client that timed out and hung up is what some tests are about."""
    try:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
