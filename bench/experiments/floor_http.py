"""Bare asyncio HTTP/1.1 floor, no slaprobe, no httpx:
python3 floor_http.py N PORT GRID_S proto|streams

N tasks, each every 1 s: new connection to 127.0.0.1:PORT, GET /, read status, headers and
body, abort. "proto" uses an asyncio.Protocol, "streams" asyncio streams. GRID_S as in
floor_tcp_icmp.py. Prints CPU per check."""
import asyncio, math, os, sys
n, port, Q, mode = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
CLK = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{os.getpid()}/stat").read(); f = f[f.rfind(")")+2:].split()
    return int(f[11])/CLK + int(f[12])/CLK
REQ = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slaprobe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
class P(asyncio.Protocol):
    def __init__(self, fut): self.fut = fut; self.buf = bytearray()
    def connection_made(self, t): self.t = t; t.write(REQ)
    def data_received(self, d):
        self.buf += d
        i = self.buf.find(b"\r\n\r\n")
        if i >= 0:
            head = bytes(self.buf[:i]); status = int(head[9:12])
            cl = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.lower() == b"content-length": cl = int(v)
            if len(self.buf) - i - 4 >= cl:
                self.t.abort()
                if not self.fut.done(): self.fut.set_result(status)
    def connection_lost(self, e):
        if not self.fut.done(): self.fut.set_result(None)
done = 0
async def task_proto(i):
    global done
    loop = asyncio.get_running_loop(); due = loop.time() + i / n
    while True:
        await asyncio.sleep(max(0, (math.ceil(due / Q) * Q if Q else due) - loop.time()))
        fut = loop.create_future()
        async with asyncio.timeout(5):
            await loop.create_connection(lambda: P(fut), "127.0.0.1", port)
            st = await fut
        assert st == 200
        done += 1; due += 1.0
async def task_streams(i):
    global done
    loop = asyncio.get_running_loop(); due = loop.time() + i / n
    while True:
        await asyncio.sleep(max(0, (math.ceil(due / Q) * Q if Q else due) - loop.time()))
        async with asyncio.timeout(5):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(REQ)
            head = await r.readuntil(b"\r\n\r\n")
            cl = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.lower() == b"content-length": cl = int(v)
            body = await r.readexactly(cl)
            w.transport.abort()
        done += 1; due += 1.0
async def main():
    fn = task_proto if mode == "proto" else task_streams
    tasks = [asyncio.create_task(fn(i)) for i in range(n)]
    await asyncio.sleep(4); c0, d0 = cpu(), done
    await asyncio.sleep(12); c1, d1 = cpu(), done
    print(f"http floor ({mode}) {n}/s Q={Q}: {round((c1-c0)/(d1-d0)*1e6)} µs per check")
    for t in tasks: t.cancel()
asyncio.run(main())
