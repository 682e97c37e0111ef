import sys
p = sys.argv[1] + "/slaprobe/writer.py"
s = open(p).read()
a = s.index("        while True:\n            deadline = time.monotonic() + (backoff or self.flush_every)")
b = s.index("            if closing:  # drain what arrived before the close marker")
s = s[:a] + '''        while True:
            # Sleep a whole flush period, then take everything queued at once: a blocking
            # get() per check wakes this thread (and takes the GIL) once per check.
            self._wake.wait(backoff or self.flush_every)
            while not closing and len(pending) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _CLOSE:
                    closing = True
                    break
                pending.append(item)  # type: ignore[arg-type]
''' + s[b:]
s = s.replace('''        self._opened = threading.Event()''', '''        self._opened = threading.Event()
        self._wake = threading.Event()  # set by close(): flush now''', 1)
old = '''            self._queue.put(_CLOSE)
            self._thread.join(timeout)'''
assert old in s
s = s.replace(old, '''            self._queue.put(_CLOSE)
            self._wake.set()
            self._thread.join(timeout)''')
open(p, "w").write(s)
