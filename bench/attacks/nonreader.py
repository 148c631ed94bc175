# Non-readers: each connection sends complete binary messages (SIZE) and never reads; reconnect from fresh addr.
# usage: nonreader.py PORT NCONN NETS SIZE SECONDS firstoctet [path]
import os, asyncio, sys, time, json, socket
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
port, nconn, nets, size, secs, oct1 = [int(x) for x in sys.argv[1:7]]
path = sys.argv[7] if len(sys.argv) > 7 else '/echo'
stats = {'connected': 0, 'refused': {}, 'closed': 0, 'msgs': 0, 'fail': 0}
ctr = [0]
def addr():
    ctr[0] += 1; i = ctr[0]; net = i % nets
    return f"127.{oct1 + net // 256}.{net % 256}.{1 + (i // nets) % 250}"
async def one(t0):
    m = frame(2, b'B' * size)
    while time.time() - t0 < secs:
        try:
            r, w, st, head = await connect(port, addr(), path)
        except Exception:
            stats['fail'] += 1; await asyncio.sleep(0.2); continue
        if st != 101:
            stats['refused'][st] = stats['refused'].get(st, 0) + 1; w.close(); await asyncio.sleep(0.2); continue
        stats['connected'] += 1
        w.transport.get_extra_info('socket').setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            while time.time() - t0 < secs:
                w.write(m); await asyncio.wait_for(w.drain(), 15); stats['msgs'] += 1
                await asyncio.sleep(0.05)
        except Exception:
            stats['closed'] += 1
        try: w.transport.abort()
        except: pass
async def main():
    t0 = time.time()
    async def rep():
        while time.time() - t0 < secs:
            await asyncio.sleep(5); print(round(time.time()-t0), json.dumps(stats), flush=True)
    await asyncio.gather(rep(), *[one(t0) for _ in range(nconn)])
    print('FINAL', json.dumps(stats), flush=True)
asyncio.run(main())
