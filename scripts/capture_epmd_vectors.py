#!/usr/bin/env python3
"""Records epmd wire traffic between real OTP programs (erl, the epmd CLI) and a real epmd.

A logging TCP proxy sits between the clients (told to use its port via ERL_EPMD_PORT or
-port) and a real /usr/bin/epmd. Each captured connection is written as
    <name> c2s <hex>      bytes the client sent
    <name> s2c <hex>      bytes epmd sent back
Also records what the epmd CLI prints (stdout/stderr) as `<name> stdout|stderr <hex>`.
Usage: scripts/capture_epmd_vectors.py > lib/epmd/testdata/epmd_vectors.txt
"""
import os, socket, subprocess, sys, threading, time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_listen(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on %d" % port)


class Proxy:
    """Accepts on its own port, forwards to `target`, logs each connection in order."""

    def __init__(self):
        self.port = free_port()
        self.target = None
        self.conns = []  # [label, c2s bytearray, s2c bytearray]
        self.label = None
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            c, _ = self.sock.accept()
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            rec = [self.label, bytearray(), bytearray()]
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self.pump, args=(c, u, rec[1]), daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, rec[2]), daemon=True).start()

    @staticmethod
    def pump(src, dst, log):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                log.extend(b)
                dst.sendall(b)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def raw_exchange(port, req, wait=0.5):
    """Sends `req` to epmd directly and returns what it replies (until close or `wait`)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    s.settimeout(wait)
    out = bytearray()
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out.extend(b)
    except socket.timeout:
        pass
    return s, bytes(out)


def main():
    lines = []

    def emit(name, kind, data):
        lines.append("%s %s %s" % (name, kind, bytes(data).hex()))

    strict_port, relaxed_port = free_port(), free_port()
    env = dict(os.environ)
    env.pop("ERL_EPMD_RELAXED_COMMAND_CHECK", None)
    strict = subprocess.Popen(["epmd", "-port", str(strict_port)], env=env,
                              stderr=subprocess.DEVNULL)
    relaxed = subprocess.Popen(["epmd", "-port", str(relaxed_port), "-relaxed_command_check"],
                               env=env, stderr=subprocess.DEVNULL)
    wait_listen(strict_port)
    wait_listen(relaxed_port)
    proxy = Proxy()
    procs = []
    try:
        proxy.target = strict_port

        def cli(name, *args):
            proxy.label = name
            r = subprocess.run(["epmd", "-port", str(proxy.port)] + list(args), env=env,
                               capture_output=True, timeout=20)
            time.sleep(0.2)
            emit(name, "stdout", r.stdout)
            emit(name, "stderr", r.stderr)

        cli("cli_names_empty", "-names")

        # A real node registers and looks things up through the proxy.
        proxy.label = "erl_alive2"
        node_env = dict(env, ERL_EPMD_PORT=str(proxy.port))
        script = ("timer:sleep(300), "
                  "put(a, erl_epmd:port_please(\"vecnode\", {127,0,0,1})), "
                  "put(b, erl_epmd:port_please(\"nosuchnode\", {127,0,0,1})), "
                  "put(c, erl_epmd:names({127,0,0,1})), "
                  "io:format(\"done~n\"), timer:sleep(infinity).")
        erl = subprocess.Popen(["erl", "-noshell", "-sname", "vecnode", "-setcookie", "veccookie",
                                "-start_epmd", "false", "-eval", script], env=node_env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(erl)
        assert erl.stdout.readline().strip() == b"done"
        time.sleep(0.3)
        # Name the node's connections by what they carry.
        names = {120: "erl_alive2", 110: "erl_names"}
        for c in proxy.conns:
            if c[0] == "erl_alive2" and len(c[1]) > 2:
                if c[1][2] == 122:
                    c[0] = "erl_port_please_" + ("ok" if b"vecnode" in c[1] else "unknown")
                else:
                    c[0] = names.get(c[1][2], "erl_other")

        cli("cli_names_one", "-names")
        cli("cli_dump_one", "-dump")
        cli("cli_kill_refused", "-kill")
        cli("cli_stop_strict", "-stop", "vecnode")

        # The same registration again while the node lives: name taken.
        alive2 = next(bytes(c[1]) for c in proxy.conns if c[0] == "erl_alive2")
        s, reply = raw_exchange(strict_port, alive2)
        s.close()
        emit("alive2_taken", "c2s", alive2)
        emit("alive2_taken", "s2c", reply)

        # An old-style request (highest version 5) gets the old ALIVE2_RESP.
        name = b"oldvsn"
        old = bytes([120]) + (4711).to_bytes(2, "big") + bytes([77, 0]) + \
            (5).to_bytes(2, "big") + (5).to_bytes(2, "big") + \
            len(name).to_bytes(2, "big") + name + (0).to_bytes(2, "big")
        old = len(old).to_bytes(2, "big") + old
        s, reply = raw_exchange(strict_port, old)
        emit("alive2_old", "c2s", old)
        emit("alive2_old", "s2c", reply)
        s.close()

        # Once the node is gone its name is remembered as unused.
        erl.kill()
        erl.wait()
        time.sleep(0.3)
        cli("cli_dump_unused", "-dump")

        # Relaxed epmd: stop and kill succeed.
        proxy.target = relaxed_port
        proxy.label = None
        s, reply = raw_exchange(relaxed_port, alive2.replace(b"vecnode", b"relaxed"), wait=0.3)
        cli("cli_stop_missing", "-stop", "nosuchnode")
        cli("cli_stop_ok", "-stop", "relaxed")
        s.close()
        cli("cli_kill_ok", "-kill")
        time.sleep(0.3)
        cli("cli_names_down", "-names")

        proxy.target = free_port()
        cli("cli_names_nothing", "-names")
        for label, c2s, s2c in proxy.conns:
            if label is None:
                continue
            emit(label, "c2s", c2s)
            emit(label, "s2c", s2c)
    finally:
        for p in procs:
            p.kill()
        strict.kill()
        relaxed.kill()
    print("# epmd wire vectors captured by scripts/capture_epmd_vectors.py")
    print("# from erl %s and /usr/bin/epmd. Format: <name> <c2s|s2c|stdout|stderr> <hex>" %
          subprocess.run(["erl", "-noshell", "-eval",
                          "io:format(\"~s\",[erlang:system_info(otp_release)]),halt()."],
                         capture_output=True).stdout.decode())
    print("# Note: OTP 25's epmd answers STOP of an unknown name with NOEXIST then STOPPED.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
