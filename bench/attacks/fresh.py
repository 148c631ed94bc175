# fresh honest clients: every 2 s a new connection from a new 127.201.x.y address, sends 1 msg, reads echo
import os, asyncio, sys, time, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
async def main():
    port, secs = int(sys.argv[1]), float(sys.argv[2]); t0=time.time(); res={}; i=0
    while time.time()-t0 < secs:
        i+=1; src=f"127.201.{i%200}.{1+i//200}"
        try:
            r,w,st,h = await connect(port, src)
            if st==101:
                w.write(frame(1,b'hi')); await w.drain(); op,d=await asyncio.wait_for(read_frame(r),10); k='ok' if op==1 else f'op{op}'
            else: k=str(st)
            w.close()
        except Exception as e: k=type(e).__name__
        res[k]=res.get(k,0)+1
        await asyncio.sleep(2)
    print('FRESH', json.dumps(res))
asyncio.run(main())
