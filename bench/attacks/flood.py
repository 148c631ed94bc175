# Control/empty frame floods split over connections: mode pong|ping|empty. Each connection writes BATCH frames per tick.
# usage: flood.py PORT MODE NCONN NETS BATCH SECONDS firstoctet
import os, asyncio, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
port, mode = int(sys.argv[1]), sys.argv[2]
nconn, nets, batch, secs, oct1 = [int(x) for x in sys.argv[3:8]]
stats = {'connected': 0, 'refused': {}, 'closed': 0, 'frames': 0, 'fail': 0}
addr = rotating(nets, oct1)
f = {'pong': frame(0xA, b''), 'ping': frame(0x9, b''), 'empty': frame(0, b'', fin=False)}[mode]
async def drain_reader(r):
    try:
        while True:
            if not await r.read(65536): return
    except Exception: return
async def one(t0):
    blob = f * batch
    while time.time() - t0 < secs:
        conn = await attach(port, addr(), stats)
        if conn is None: continue
        r, w = conn
        rd = asyncio.ensure_future(drain_reader(r))
        try:
            if mode == 'empty': w.write(frame(1, b'', fin=False))
            while time.time() - t0 < secs:
                w.write(blob); await asyncio.wait_for(w.drain(), 10); stats['frames'] += batch
                await asyncio.sleep(0)
        except Exception: stats['closed'] += 1
        rd.cancel()
        try: w.transport.abort()
        except: pass
run_clients(one, nconn, secs, stats)
