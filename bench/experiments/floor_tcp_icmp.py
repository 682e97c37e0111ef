"""Bare asyncio floor, no slaprobe: python3 floor_tcp_icmp.py tcp|icmp N PORT GRID_S

N tasks, each every 1 s: a TCP connect + close to 127.0.0.1:PORT (or an ICMP echo to
127.0.0.1 on one shared raw socket, root only). With GRID_S > 0 every wake-up is rounded up
to a GRID_S grid, so tasks due in the same slot share one loop wake-up. Prints CPU per op."""
import math
import asyncio, socket, sys, time, os, struct
kind, n, port, Q = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
CLK = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{os.getpid()}/stat").read(); f = f[f.rfind(")")+2:].split()
    return int(f[11])/CLK, int(f[12])/CLK
done = 0
async def tcp_task(i):
    global done
    loop = asyncio.get_running_loop()
    due = loop.time() + i / n
    while True:
        await asyncio.sleep(max(0, (math.ceil(due / Q) * Q if Q else due) - loop.time()))
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.setblocking(False)
        await loop.sock_connect(s, ("127.0.0.1", port)); s.close()
        done += 1; due += 1.0

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b)//2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
pending = {}
async def icmp_task(i, sock):
    global done
    loop = asyncio.get_running_loop()
    due = loop.time() + i / n
    seq = i
    while True:
        await asyncio.sleep(max(0, (math.ceil(due / Q) * Q if Q else due) - loop.time()))
        seq = (seq + n) & 0xffff
        hdr = struct.pack("!BBHHH", 8, 0, 0, 0x1234, seq) + b"x"*16
        pkt = hdr[:2] + struct.pack("!H", csum(hdr)) + hdr[4:]
        fut = loop.create_future(); pending[seq] = fut
        sock.sendto(pkt, ("127.0.0.1", 0))
        await fut
        done += 1; due += 1.0
def on_read(sock):
    while True:
        try: data = sock.recv(2048)
        except BlockingIOError: return
        ihl = (data[0] & 15) * 4
        t, _, _, ident, seq = struct.unpack("!BBHHH", data[ihl:ihl+8])
        if t == 0:
            f = pending.pop(seq, None)
            if f and not f.done(): f.set_result(None)
async def main():
    loop = asyncio.get_running_loop()
    if kind == "tcp":
        tasks = [asyncio.create_task(tcp_task(i)) for i in range(n)]
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); sock.setblocking(False)
        loop.add_reader(sock.fileno(), on_read, sock)
        tasks = [asyncio.create_task(icmp_task(i, sock)) for i in range(n)]
    await asyncio.sleep(4)
    c0, d0 = cpu(), done
    await asyncio.sleep(12)
    c1, d1 = cpu(), done
    k = d1 - d0
    print(kind, "floor", n, "/s: usr/sys µs per op", round((c1[0]-c0[0])/k*1e6), round((c1[1]-c0[1])/k*1e6), "total", round((sum(c1)-sum(c0))/k*1e6))
    for t in tasks: t.cancel()
asyncio.run(main())
