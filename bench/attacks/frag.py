# Endless fragmented message, split over many connections and /24s.
# usage: frag.py PORT NCONN NETS CHUNK_BYTES RATE_BYTES_PER_CONN_PER_S SECONDS [firstoctet]
import os, asyncio, sys, time, json, random
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
port, nconn, nets, chunk, rate, secs = [int(x) for x in sys.argv[1:7]]
oct1 = int(sys.argv[7]) if len(sys.argv) > 7 else 10
stats = {'connected': 0, 'refused': {}, 'closed': 0, 'bytes': 0, 'fail': 0}
ctr = [0]
def addr():
    ctr[0] += 1; i = ctr[0]
    net = i % nets
    return f"127.{oct1 + net // 256}.{net % 256}.{1 + (i // nets) % 250}"
async def one(t0):
    payload = b'A' * chunk
    while time.time() - t0 < secs:
        src = addr()
        try:
            r, w, st, head = await connect(port, src)
        except Exception as e:
            stats['fail'] += 1; await asyncio.sleep(0.2); continue
        if st != 101:
            stats['refused'][st] = stats['refused'].get(st, 0) + 1; w.close(); await asyncio.sleep(0.2); continue
        stats['connected'] += 1
        try:
            w.write(frame(2, payload, fin=False)); await w.drain(); stats['bytes'] += chunk
            while time.time() - t0 < secs:
                await asyncio.sleep(chunk / rate)
                w.write(frame(0, payload, fin=False)); await w.drain(); stats['bytes'] += chunk
        except Exception as e:
            stats['closed'] += 1
        try: w.close()
        except: pass
async def main():
    t0 = time.time()
    async def rep():
        while time.time() - t0 < secs:
            await asyncio.sleep(5); print(round(time.time()-t0), json.dumps(stats), flush=True)
    await asyncio.gather(rep(), *[one(t0) for _ in range(nconn)])
    print('FINAL', json.dumps(stats), flush=True)
asyncio.run(main())
