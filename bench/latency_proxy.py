#!/usr/bin/env python3
"""A small HTTP/1.1-aware TCP proxy that puts a long link between the benchmark's tools and moto.

    latency_proxy.py --upstream 127.0.0.1:PORT [--port 0] [--rtt-ms 100] [--bw-mbit 0]
                     [--slowdown-rps 0] [--log requests.jsonl] [--keep-alive]

- RTT: every byte is held RTT/2 on its way to the server and RTT/2 on its way back; a new connection's first
  bytes wait one more RTT (the TCP handshake a real client pays before it can send).
- Bandwidth (--bw-mbit, 0 = none): one shared link per direction; a chunk leaves when the link is free.
- Throttling (--slowdown-rps, 0 = none): requests arriving while more than that many were let through in the
  last second (sliding window) are answered `503 SlowDown` with S3's XML error body, without reaching the
  server, as S3 does above its per-prefix request rate. The connection stays open (the request's body is read
  and dropped), except after `Expect: 100-continue`, where the client may not send the body: then it closes.
- --log: one JSON line per request: time, method, path, status (503 if refused here, 0 if forwarded), and
  whether it waited for its connection's handshake ("new": the connection was opened less than one RTT
  before the request came; one opened ahead of it costs the request nothing).
- --keep-alive: keep the client's connection open across requests, as S3 does. moto answers every request with
  `Connection: close`, so without this every request over the link pays a new connection's handshake (two round
  trips, not one). With it, each request goes to moto on a connection of its own (on 127.0.0.1, free), and the
  answer comes back without `Connection: close` (with a Content-Length if it had none).

Requests are framed by Content-Length or chunked encoding; responses are passed through untouched. Prints
`listening PORT` on stdout once ready. Standard library only.
"""
import argparse
import asyncio
import collections
import json
import sys
import time

CHUNK = 64 * 1024
SLOWDOWN_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                 b'<Message>Please reduce your request rate.</Message><RequestId>PROXY</RequestId>'
                 b'<HostId>latency-proxy</HostId></Error>')


class Link:
    """One direction of the shared link: RTT/2 of delay and an optional bandwidth cap."""

    def __init__(self, half_rtt, bw_bytes):
        self.half_rtt = half_rtt
        self.bw = bw_bytes
        self.free_at = 0.0

    def deliver_at(self, n, not_before):
        now = max(time.monotonic(), not_before)
        if self.bw:
            start = max(now, self.free_at)
            self.free_at = start + n / self.bw
            now = self.free_at
        return now + self.half_rtt


class Limiter:
    """Requests let through in the last second; refuses above `rps`."""

    def __init__(self, rps):
        self.rps = rps
        self.times = collections.deque()
        self.refused = 0
        self.passed = 0

    def admit(self):
        if not self.rps:
            self.passed += 1
            return True
        now = time.monotonic()
        while self.times and self.times[0] <= now - 1.0:
            self.times.popleft()
        if len(self.times) >= self.rps:
            self.refused += 1
            return False
        self.times.append(now)
        self.passed += 1
        return True


class RequestFramer:
    """Splits the client's byte stream into requests: calls on_head(method, path, headers) -> forward?, and
    yields (bytes, forward) pieces; `done` lists the requests refused whose bodies have been fully read."""

    def __init__(self, on_head):
        self.on_head = on_head
        self.buf = bytearray()
        self.state = "head"
        self.remaining = 0
        self.forward = True
        self.expect = False
        self.method = ""
        self.refused_done = []

    def feed(self, data):
        """The pieces of `data` as (bytes, forward, is_head)."""
        self.buf += data
        out = []
        while True:
            head = self.state == "head"
            piece = self.step()
            if piece is None:
                return out
            if piece:
                out.append((piece, self.forward, head))

    def step(self):
        """One framing step: bytes consumed (b"" for a state change with no bytes), or None when more input is
        needed."""
        if self.state == "head":
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return None
            head = bytes(self.buf[:end + 4])
            del self.buf[:end + 4]
            self.start_request(head)
            return head
        if self.state == "body":
            if self.remaining == 0:
                return self.end_request()
            if not self.buf:
                return None
            n = min(self.remaining, len(self.buf))
            piece = bytes(self.buf[:n])
            del self.buf[:n]
            self.remaining -= n
            return piece
        return self.step_chunked()

    def step_chunked(self):
        if self.state == "chunk-size":
            end = self.buf.find(b"\r\n")
            if end < 0:
                return None
            size = int(self.buf[:end].split(b";")[0].strip() or b"0", 16)
            piece = bytes(self.buf[:end + 2])
            del self.buf[:end + 2]
            self.state, self.remaining = ("trailer", 0) if size == 0 else ("chunk-data", size + 2)
            return piece
        if self.state == "chunk-data":
            if not self.buf:
                return None
            n = min(self.remaining, len(self.buf))
            piece = bytes(self.buf[:n])
            del self.buf[:n]
            self.remaining -= n
            if self.remaining == 0:
                self.state = "chunk-size"
            return piece
        # trailer: lines until an empty one
        end = self.buf.find(b"\r\n")
        if end < 0:
            return None
        piece = bytes(self.buf[:end + 2])
        del self.buf[:end + 2]
        if end == 0:
            self.state, self.remaining = "body", 0
        return piece

    def start_request(self, head):
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if sep:
                headers[k.strip().lower()] = v.strip()
        self.method = parts[0]
        self.forward = self.on_head(parts[0], parts[1] if len(parts) > 1 else "", headers)
        self.expect = headers.get("expect", "").lower() == "100-continue"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.state = "chunk-size"
        else:
            self.state, self.remaining = "body", int(headers.get("content-length", "0") or 0)
        if not self.forward and self.expect:
            # the client waits for 100 Continue before the body: answer now and close
            self.state, self.remaining = "body", 0

    def end_request(self):
        if not self.forward:
            self.refused_done.append(self.expect)
        self.state = "head"
        return b""


def slowdown_response(close):
    return (b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nx-amz-request-id: PROXY\r\n"
            + (b"Connection: close\r\n" if close else b"")
            + b"Content-Length: " + str(len(SLOWDOWN_BODY)).encode() + b"\r\n\r\n" + SLOWDOWN_BODY)


async def pump_out(queue, writer):
    """Write queued (deliver_at, bytes) pieces at their time; None closes."""
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            at, data = item
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # noqa
            pass


class Proxy:
    def __init__(self, args):
        self.upstream = args.upstream.rsplit(":", 1)
        self.rtt = args.rtt_ms / 1000.0
        bw = args.bw_mbit * 1e6 / 8
        self.up = Link(self.rtt / 2, bw)
        self.down = Link(self.rtt / 2, bw)
        self.limiter = Limiter(args.slowdown_rps)
        self.log = open(args.log, "a", buffering=1) if args.log else None
        self.keep_alive = args.keep_alive

    def record(self, method, path, status, new):
        if self.log:
            self.log.write(json.dumps({"t": time.time(), "m": method, "p": path.split("?")[0], "st": status,
                                       "new": new}) + "\n")

    def on_head_for(self, handshake_done):
        """The framer's callback for one client connection, whose handshake is over at `handshake_done`."""

        def on_head(method, path, headers):
            ok = self.limiter.admit()
            self.record(method, path, 0 if ok else 503, time.monotonic() < handshake_done)
            return ok
        return on_head

    async def handle(self, creader, cwriter):
        if self.keep_alive:
            return await self.handle_keep_alive(creader, cwriter)
        handshake_done = time.monotonic() + self.rtt
        try:
            ureader, uwriter = await asyncio.open_connection(self.upstream[0], int(self.upstream[1]))
        except OSError:
            cwriter.close()
            return
        upq, downq = asyncio.Queue(), asyncio.Queue()
        tasks = [asyncio.ensure_future(pump_out(upq, uwriter)), asyncio.ensure_future(pump_out(downq, cwriter)),
                 asyncio.ensure_future(self.server_to_client(ureader, downq))]
        await self.client_to_server(creader, upq, downq, handshake_done)
        await asyncio.gather(*tasks, return_exceptions=True)

    def answer_refused(self, framer, downq, not_before):
        """Answer the requests refused (SlowDown) whose bodies have been read; whether to close the connection
        (after `Expect: 100-continue`). Refused at the "server": the answer travels back after a full RTT."""
        close = False
        for expect in framer.refused_done:
            at = max(time.monotonic(), not_before) + self.rtt
            downq.put_nowait((at, slowdown_response(expect)))
            close = close or expect
        framer.refused_done.clear()
        return close

    async def client_to_server(self, creader, upq, downq, not_before):
        framer = RequestFramer(self.on_head_for(not_before))
        try:
            while True:
                data = await creader.read(CHUNK)
                if not data:
                    break
                for piece, forward, _ in framer.feed(data):
                    if forward:
                        upq.put_nowait((self.up.deliver_at(len(piece), not_before), piece))
                if self.answer_refused(framer, downq, not_before):
                    break
        except (ConnectionError, OSError, ValueError):
            pass
        upq.put_nowait(None)

    async def server_to_client(self, ureader, downq):
        try:
            while True:
                data = await ureader.read(CHUNK)
                if not data:
                    break
                downq.put_nowait((self.down.deliver_at(len(data), 0.0), data))
        except (ConnectionError, OSError):
            pass
        downq.put_nowait(None)


    async def handle_keep_alive(self, creader, cwriter):
        """--keep-alive: one client connection, many requests (the client sends the next one after the answer);
        each request forwarded goes to the server on a connection of its own."""
        not_before = time.monotonic() + self.rtt
        downq = asyncio.Queue()
        out = asyncio.ensure_future(pump_out(downq, cwriter))
        framer = RequestFramer(self.on_head_for(not_before))
        upq, exchanges = None, []
        try:
            while True:
                data = await creader.read(CHUNK)
                if not data:
                    break
                for piece, forward, head in framer.feed(data):
                    if not forward:
                        continue
                    if head:
                        upq = asyncio.Queue()
                        exchanges.append(asyncio.ensure_future(self.exchange(framer.method, upq, downq)))
                    upq.put_nowait((self.up.deliver_at(len(piece), not_before), piece))
                if self.answer_refused(framer, downq, not_before):
                    break
        except (ConnectionError, OSError, ValueError):
            pass
        await asyncio.gather(*exchanges, return_exceptions=True)
        downq.put_nowait(None)
        await out

    async def exchange(self, method, upq, downq):
        """One request on a fresh server connection: interim (1xx) answers are passed on at once; the final one
        is read to its end (moto then closes) and passed on without `Connection: close`."""
        try:
            ureader, uwriter = await asyncio.open_connection(self.upstream[0], int(self.upstream[1]))
        except OSError:
            return
        pump = asyncio.ensure_future(pump_out(upq, uwriter))
        buf = bytearray()
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = await ureader.read(CHUNK)
                    if not data:
                        return
                    buf += data
                end = buf.index(b"\r\n\r\n") + 4
                head = bytes(buf[:end])
                del buf[:end]
                status = int(head.split(b" ", 2)[1])
                if 100 <= status < 200:
                    downq.put_nowait((self.down.deliver_at(len(head), 0.0), head))
                    continue
                break
            lines = head.decode("latin-1").split("\r\n")[:-2]
            fields = [(k.strip().lower(), v.strip()) for k, _, v in (x.partition(":") for x in lines[1:])]
            length = next((int(v) for k, v in fields if k == "content-length"), None)
            chunked = any(k == "transfer-encoding" and "chunked" in v.lower() for k, v in fields)
            if method == "HEAD" or status in (204, 304):
                length = length if method == "HEAD" else 0
                want = 0
            else:
                want = length
            while want is None or len(buf) < want:
                data = await ureader.read(CHUNK)
                if not data:
                    break
                buf += data
            body = bytes(buf if want is None else buf[:want])
            kept = [x for x in lines[1:] if x.partition(":")[0].strip().lower() not in ("connection", "keep-alive")]
            if length is None and not chunked:
                kept.append(f"Content-Length: {len(body)}")
            answer = ("\r\n".join([lines[0]] + kept) + "\r\n\r\n").encode("latin-1") + body
            downq.put_nowait((self.down.deliver_at(len(answer), 0.0), answer))
        except (ConnectionError, OSError, ValueError, IndexError):
            pass
        finally:
            pump.cancel()
            uwriter.close()


async def main_async(args):
    proxy = Proxy(args)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", args.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the S3 server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rtt-ms", type=float, default=100.0)
    ap.add_argument("--bw-mbit", type=float, default=0.0, help="bandwidth cap per direction, Mbit/s (0: none)")
    ap.add_argument("--slowdown-rps", type=float, default=0.0,
                    help="answer 503 SlowDown above this many requests per second (0: never)")
    ap.add_argument("--log", help="append one JSON line per request here")
    ap.add_argument("--keep-alive", action="store_true",
                    help="keep client connections open across requests, as S3 does (moto closes each one)")
    args = ap.parse_args()
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
