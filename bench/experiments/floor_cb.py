"""Bare asyncio floor with ONE scheduler timer per 10 ms tick and callback-driven checks (no
task per check): python3 floor_cb.py tcp|icmp N PORT [sock]. 'sock' uses socket.socket instead
of _socket.socket. Prints CPU per op (compare floor_tcp_icmp.py)."""
import asyncio, socket, _socket, sys, time, os, struct, errno, heapq
kind, n, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mk = socket.socket if "sock" in sys.argv[4:] else _socket.socket
CLK = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{os.getpid()}/stat").read(); f = f[f.rfind(")")+2:].split()
    return int(f[11])/CLK, int(f[12])/CLK
done = 0
Q = 0.01
def main():
    loop = asyncio.new_event_loop()
    t0 = loop.time()
    heap = [(round((t0 + i / n) / Q) * Q, i) for i in range(n)]
    heapq.heapify(heap)
    addr = ("127.0.0.1", port)
    def finish_tcp(fd, s, h):
        global done
        loop.remove_writer(fd)
        h.cancel()
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        s.close(); done += 1
    def timeout_tcp(fd, s):
        loop.remove_writer(fd); s.close()
    def start_tcp(i):
        global done
        s = mk(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        e = s.connect_ex(addr)
        if e == 0:
            s.close(); done += 1; return
        if e != errno.EINPROGRESS:
            s.close(); return
        fd = s.fileno()
        h = loop.call_later(5, timeout_tcp, fd, s)
        loop.add_writer(fd, finish_tcp, fd, s, h)
    def tick():
        now = loop.time()
        while heap[0][0] <= now:
            due, i = heapq.heappop(heap)
            start_tcp(i)
            heapq.heappush(heap, (due + 1.0, i))
        loop.call_at(heap[0][0], tick)
    loop.call_at(heap[0][0], tick)
    loop.run_until_complete(asyncio.sleep(4))
    c0, d0 = cpu(), done
    loop.run_until_complete(asyncio.sleep(12))
    c1, d1 = cpu(), done
    k = d1 - d0
    print(kind, "cb floor", n, "/s: usr/sys µs per op", round((c1[0]-c0[0])/k*1e6), round((c1[1]-c0[1])/k*1e6), "total", round((sum(c1)-sum(c0))/k*1e6))
main()
