# An honest client on a slow network (stranger15): small receive buffer, sends a SIZE-byte binary message every PERIOD s,
# reads its echoes at RATE bytes/s (it keeps up on average), answers pings. Prints sent/echoed/end/worst echo gap.
# usage: slow_reader.py PORT SRC SECONDS SIZE PERIOD RATE
import os, asyncio, sys, time, json, struct, signal, socket, base64
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
port, src, secs, size, period, rate = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
res = {'sent': 0, 'echoed': 0, 'end': None, 'worst_echo_gap': 0, 'read_bytes': 0}
def main():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192); s.bind((src, 0)); s.connect(('127.0.0.1', port))
    s.sendall(req('/echo')); buf = b''
    while b'\r\n\r\n' not in buf: buf += s.recv(4096)
    head, buf = buf.split(b'\r\n\r\n', 1); res['status'] = int(head.split(b' ')[1])
    if res['status'] != 101: return
    t0 = time.time(); last = t0; nxt = t0; s.settimeout(0.05)
    msg = frame(2, b'S' * size)
    while time.time() - t0 < secs:
        now = time.time()
        if now >= nxt:
            s.setblocking(True); s.sendall(msg); s.settimeout(0.05); res['sent'] += 1; nxt = now + period
        try: d = s.recv(2048)
        except socket.timeout: d = None
        if d == b'': res['end'] = f'eof at {time.time()-t0:.1f}'; return
        if d:
            buf += d; res['read_bytes'] += len(d); time.sleep(len(d) / rate)
        while len(buf) >= 2:
            op = buf[0] & 15; n = buf[1] & 127; o = 2
            if n == 126:
                if len(buf) < 4: break
                n = struct.unpack('>H', buf[2:4])[0]; o = 4
            elif n == 127:
                if len(buf) < 10: break
                n = struct.unpack('>Q', buf[2:10])[0]; o = 10
            if len(buf) < o + n: break
            p = buf[o:o+n]; buf = buf[o+n:]
            if op == 9: s.setblocking(True); s.sendall(frame(0xA, p)); s.settimeout(0.05)
            elif op == 8: res['end'] = f"close {struct.unpack('>H', p[:2])[0] if len(p)>=2 else None} {p[2:80]!r} at {time.time()-t0:.1f}"; return
            elif op == 2:
                res['echoed'] += 1; now = time.time(); g = round(now - last, 2); last = now
                if g > res['worst_echo_gap']: res['worst_echo_gap'] = g; res['worst_at'] = round(now - t0, 1)
    res['end'] = 'done'
signal.signal(signal.SIGTERM, lambda *a: (res.__setitem__('end', res['end'] or 'SIGTERM'), print(json.dumps(res), flush=True), os._exit(0)))
try: main()
except Exception as e: res['end'] = res['end'] or repr(e)[:100]
print(json.dumps(res), flush=True)
