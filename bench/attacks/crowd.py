# Honest clients: N from N addresses 127.OCT.x.y, each one 100-byte message a second, reading every echo and
# answering pings; after a refusal or a failed connect, again 1 s later (stranger14's test 1).
# usage: crowd.py PORT N SECONDS [OCT]
import os, asyncio, sys, time, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
oct1 = int(sys.argv[4]) if len(sys.argv) > 4 else 95
st = {'ok': 0, 'refused': {}, 'fail': 0, 'closed': 0, 'echoes': 0}
async def one(i, t0):
    await asyncio.sleep(i * 0.01)
    src = f"127.{oct1}.{i // 200}.{1 + i % 200}"
    while time.time() - t0 < secs:
        try: r, w, s, h = await connect(port, src, '/echo')
        except Exception: st['fail'] += 1; await asyncio.sleep(1); continue
        if s != 101:
            st['refused'][s] = st['refused'].get(s, 0) + 1; w.close(); await asyncio.sleep(1); continue
        st['ok'] += 1
        try:
            while time.time() - t0 < secs:
                w.write(frame(1, b'x' * 100)); await w.drain()
                while True:
                    op, d = await asyncio.wait_for(read_frame(r), 10)
                    if op == 8: raise RuntimeError('close')
                    if op == 9: w.write(frame(0xA, d)); continue
                    break
                st['echoes'] += 1; await asyncio.sleep(1)
        except Exception: st['closed'] += 1
        w.close()
async def main():
    t0 = time.time(); await asyncio.gather(*[one(i, t0) for i in range(n)])
    print(json.dumps(st))
asyncio.run(main())
