# port_grab.py PORT SECONDS HOLD NIDLE: a local program that takes the service's port while
# its listener is down (issue #20, stranger22). It opens NIDLE idle connections to 127.0.0.1:PORT
# (never sending a request: they run a service under a low prlimit out of descriptors, and its
# listener closes), and meanwhile tries to bind 127.0.0.1:PORT with SO_REUSEADDR every 2 ms for
# SECONDS; once bound it answers every connection for HOLD s with a 200 "grabbed", then lets go.
# A prober meanwhile asks GET /healthz on a new connection every 20 ms, for SECONDS: who answered
# (the service, with its status, or the grabber), or the error. Prints one JSON line.
import json, socket, sys, threading, time

port, secs, hold, nidle = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
start = time.time()
out = {"idleOpened": 0, "boundAfterMs": None, "tries": 0, "answered": 0, "probes": {}}


def grab():
    listener = None
    while time.time() - start < secs:
        out["tries"] += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(128)
            listener = s
            break
        except OSError:
            s.close()
            time.sleep(0.002)
    if listener is None:
        return
    out["boundAfterMs"] = round((time.time() - start) * 1000)
    listener.settimeout(0.05)
    bound = time.time()
    while time.time() - bound < hold:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        out["answered"] += 1
        try:
            conn.settimeout(0.2)
            try:
                conn.recv(4096)
            except OSError:
                pass
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\ngrabbed\n")
        except OSError:
            pass
        conn.close()
    listener.close()


def probe():
    while time.time() - start < secs:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                text = c.recv(4096).decode("latin-1")
                kind = "grabber" if "grabbed" in text else f"service {text[9:12]}" if text.startswith("HTTP/1.1") else "closed"
        except OSError as error:
            kind = type(error).__name__
        out["probes"][kind] = out["probes"].get(kind, 0) + 1
        time.sleep(0.02)


thread = threading.Thread(target=grab)
thread.start()
prober = threading.Thread(target=probe)
prober.start()
idle = []
# Until the port is taken: after that each connect would reach the grabber.
while len(idle) < nidle and time.time() - start < secs and out["boundAfterMs"] is None:
    try:
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=1))
    except OSError:
        time.sleep(0.005)
out["idleOpened"] = len(idle)
thread.join()
prober.join()
for s in idle:
    s.close()
print(json.dumps(out), flush=True)
