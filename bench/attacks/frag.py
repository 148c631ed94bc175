# Endless fragmented message, split over many connections and /24s.
# usage: frag.py PORT NCONN NETS CHUNK_BYTES RATE_BYTES_PER_CONN_PER_S SECONDS [firstoctet]
import os, asyncio, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
port, nconn, nets, chunk, rate, secs = [int(x) for x in sys.argv[1:7]]
oct1 = int(sys.argv[7]) if len(sys.argv) > 7 else 10
stats = {'connected': 0, 'refused': {}, 'closed': 0, 'bytes': 0, 'fail': 0}
addr = rotating(nets, oct1)
async def one(t0):
    payload = b'A' * chunk
    while time.time() - t0 < secs:
        conn = await attach(port, addr(), stats)
        if conn is None: continue
        r, w = conn
        try:
            w.write(frame(2, payload, fin=False)); await w.drain(); stats['bytes'] += chunk
            while time.time() - t0 < secs:
                await asyncio.sleep(chunk / rate)
                w.write(frame(0, payload, fin=False)); await w.drain(); stats['bytes'] += chunk
        except Exception as e:
            stats['closed'] += 1
        try: w.close()
        except: pass
run_clients(one, nconn, secs, stats)
