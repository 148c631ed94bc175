# Non-readers: each connection sends complete binary messages (SIZE) and never reads; reconnect from fresh addr.
# usage: nonreader.py PORT NCONN NETS SIZE SECONDS firstoctet [path]
import os, asyncio, sys, time, socket
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
port, nconn, nets, size, secs, oct1 = [int(x) for x in sys.argv[1:7]]
path = sys.argv[7] if len(sys.argv) > 7 else '/echo'
stats = {'connected': 0, 'refused': {}, 'closed': 0, 'msgs': 0, 'fail': 0}
addr = rotating(nets, oct1)
async def one(t0):
    m = frame(2, b'B' * size)
    while time.time() - t0 < secs:
        conn = await attach(port, addr(), stats, path)
        if conn is None: continue
        r, w = conn
        w.transport.get_extra_info('socket').setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            while time.time() - t0 < secs:
                w.write(m); await asyncio.wait_for(w.drain(), 15); stats['msgs'] += 1
                await asyncio.sleep(0.05)
        except Exception:
            stats['closed'] += 1
        try: w.transport.abort()
        except: pass
run_clients(one, nconn, secs, stats)
