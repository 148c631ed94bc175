# An honest pipelining client (stranger11 F2): sends a SIZE-byte binary message every PERIOD s without waiting for
# echoes, reads every echo concurrently and answers pings; prints sent, echoed, how it ended and the worst echo gap
# (also on SIGTERM, so a `timeout` still reports). SNDBUF=BYTES in the environment sets its send buffer (root).
# usage: honest_stream.py PORT SRC SECONDS SIZE PERIOD
import os, asyncio, sys, time, json, struct, signal
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
async def main():
    port, src, secs, size, period = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    r, w, st, h = await connect(port, src); t0 = time.time(); res = {'status': st, 'sent': 0, 'echoed': 0, 'end': None, 'worst_echo_gap': 0}
    if st != 101: print(json.dumps(res)); return
    last = [time.time()]
    def report():
        res['end'] = res['end'] or 'SIGTERM'; print(json.dumps(res), flush=True); os._exit(0)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, report)
    async def reader():
        while True:
            op, d = await read_frame(r)
            if op == 9: w.write(frame(0xA, d)); continue
            if op == 8:
                res['end'] = f"close {struct.unpack('>H', d[:2])[0] if len(d)>=2 else None} {d[2:80]!r} at {time.time()-t0:.1f}"; return
            if op == 2:
                res['echoed'] += 1; now = time.time(); g=round(now-last[0],2)
                if g>res['worst_echo_gap']: res['worst_echo_gap']=g; res['worst_at']=round(now-t0,1)
                last[0] = now
    rt = asyncio.ensure_future(reader())
    try:
        while time.time() - t0 < secs and not rt.done():
            w.write(frame(2, b'H' * size)); await asyncio.wait_for(w.drain(), 30); res['sent'] += 1
            await asyncio.sleep(period)
        await asyncio.sleep(2)
    except Exception as e: res['end'] = res['end'] or f"{type(e).__name__} at {time.time()-t0:.1f}"
    if rt.done() and rt.exception(): res['end'] = res['end'] or f"{type(rt.exception()).__name__} at {time.time()-t0:.1f}"
    rt.cancel(); print(json.dumps(res))
asyncio.run(main())
