# combo.py "ARGS1" "ARGS2" ...: runs each "script args" with python3 at once, prints their outputs prefixed.
import subprocess, sys
ps = [subprocess.Popen(['python3'] + a.split(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for a in sys.argv[1:]]
for a, p in zip(sys.argv[1:], ps):
    out, _ = p.communicate()
    print('==', a); print(out[-3000:])
