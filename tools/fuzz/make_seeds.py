#!/usr/bin/env python3
"""Writes the seed corpora of the epmd and dist fuzz targets from the recorded vectors.

Seeds come only from bytes a live erl/epmd sent or accepted (lib/epmd/testdata/epmd_vectors.txt,
lib/dist/testdata/dist_vectors.txt), laid out as each target reads its input:
  epmd_protocol/  one request stream (c2s) or reply (s2c) per file, as recorded;
  dist_handshake/ options byte + the peer's framed handshake messages (see the target);
  dist_framing/   a profile's packets as one u32-framed stream, with ticks between;
  dist_message/   options byte + u32-framed packets: a whole profile, and each packet alone.
Usage: tools/fuzz/make_seeds.py  (rewrites those four folders; files named repro_* stay)
"""
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tools", "fuzz", "corpus")


def reset(name):
    """Empties a seed folder, except for fuzzer findings kept as repro_* files."""
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not f.startswith("repro_"):
            os.remove(os.path.join(d, f))
    return d


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def epmd():
    d = reset("epmd_protocol")
    seen = {}
    with open(os.path.join(ROOT, "lib", "epmd", "testdata", "epmd_vectors.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3 or parts[1] not in ("c2s", "s2c"):
                continue
            key = parts[0] + "_" + parts[1]
            seen[key] = seen.get(key, 0) + 1
            write(d, "%s_%d" % (key, seen[key]), bytes.fromhex(parts[2]))


def dist():
    profiles = {}
    with open(os.path.join(ROOT, "lib", "dist", "testdata", "dist_vectors.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3 or line.startswith("#"):
                continue
            profiles.setdefault(parts[0], []).append((parts[1], bytes.fromhex(parts[2])))

    hs = reset("dist_handshake")
    framing = reset("dist_framing")
    msg = reset("dist_message")
    for prof, items in sorted(profiles.items()):
        got = dict((n, b) for n, b in items if n.startswith("hs_"))

        def framed(names, width):
            out = b""
            for n in names:
                out += len(got[n]).to_bytes(width, "big") + got[n]
            return out

        for width, bit in ((2, 0), (4, 0x20)):
            write(hs, "%s_initiator_%d" % (prof, width),
                  bytes([bit]) + framed(["hs_status", "hs_challenge", "hs_ack"], width))
            for decision in range(6):
                write(hs, "%s_acceptor_%d_%d" % (prof, width, decision),
                      bytes([bit | 1 | decision << 1]) +
                      framed(["hs_send_name", "hs_reply"], width))

        # Packets of at most 8 KB, except that the fragments of the one fragmented message
        # (hdr big_send, about 150 KB) go into a single seed, so reassembly is seeded too.
        every = [(n, b) for n, b in items if not n.startswith("hs_") and n != "flags"]
        small = [(n, b) for n, b in every if len(b) <= 8192]
        stream = b"".join(struct.pack(">I", len(p)) + p for _, p in small)
        ticked = b"".join(struct.pack(">I", len(p)) + p + b"\0\0\0\0" for _, p in small)
        write(framing, prof + "_stream", stream)
        write(framing, prof + "_ticks", ticked)
        # Bit 0: headers; bits 2-3: the node the recording was sent to (see the target).
        opt = {"pass": 0, "hdr": 1 | 1 << 2, "old": 2 << 2}[prof]
        for bit in (0, 2):
            write(msg, "%s_all_%d" % (prof, bit), bytes([opt | bit]) + stream)
        if prof == "hdr":
            write(msg, "hdr_all_fragments", bytes([opt | 2]) +
                  b"".join(struct.pack(">I", len(p)) + p for _, p in every))
        for i, (n, p) in enumerate(small):
            write(msg, "%s_%02d_%s" % (prof, i, n), bytes([opt | 2]) + struct.pack(">I", len(p)) + p)


if __name__ == "__main__":
    epmd()
    dist()
