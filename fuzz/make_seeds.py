#!/usr/bin/env python3
"""Regenerates the fuzz seed corpus (fuzz/seeds/TARGET/) from real RTMP sessions.

Starts the relay (target/debug/rtmp-edge) on 127.0.0.1, puts a small capture proxy in front of
it, and runs real peers through the proxy: FFmpeg (publish and play), rtmpdump (play),
GStreamer (rtmp2sink publish, rtmp2src play), FFmpeg 9 from imageio-ffmpeg (Enhanced RTMP:
HEVC + Opus, H.264 + two AAC tracks) when installed, rtmp-loadtest (the relay's own client
session, publish and play), and an OBS-style publisher written here (releaseStream, FCPublish
and createStream sent without waiting, as OBS does). Every session lasts a second or two; all
traffic stays on loopback.

The proxy records both directions of each connection. From those it writes seeds for every
target: whole client->server streams (server_session, shard_core), server->client streams
(client_session), their first 3073 bytes (handshakes), the chunk streams after the handshake
(chunk), the command and data payloads (amf0, amf3), audio and video payloads and a small
FLV file built from them (flv). PROXY headers (v1, v2) are written by hand. Each seed is cut
to a few tens of KiB, so the whole corpus stays small. Output is not bit-for-bit
reproducible (encoders, timing), but its shape is.

Usage: fuzz/make_seeds.py [--keep-old]   (run from anywhere; builds the binaries it needs)
Env: SEEDS_DIR (fuzz/seeds) where the seeds go; without --keep-old it is emptied first.
"""
import hashlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.environ.get("SEEDS_DIR", os.path.join(ROOT, "fuzz", "seeds"))
HANDSHAKE = 1 + 2 * 1536
# Longest seed of a whole stream; chunk and session seeds are cut here.
STREAM_CAP = 48 * 1024
# Longest media payload kept as an flv seed (the facts read the first bytes only, the track
# walker a bit more).
MEDIA_CAP = 2048
# Bytes recorded per direction of one connection.
RECORD_CAP = 256 * 1024


def log(*args):
    print("make_seeds:", *args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"make_seeds: nothing listens on 127.0.0.1:{port}")


class Capture:
    """A TCP proxy 127.0.0.1:port -> 127.0.0.1:upstream recording both directions."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.label = "none"
        self.sessions = []  # (label, c2s bytearray, s2c bytearray)
        self.lock = threading.Lock()
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            c2s, s2c = bytearray(), bytearray()
            with self.lock:
                self.sessions.append((self.label, c2s, s2c))
            for a, b, buf in ((client, server, c2s), (server, client, s2c)):
                threading.Thread(target=self.pipe, args=(a, b, buf), daemon=True).start()

    @staticmethod
    def pipe(src, dst, buf):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if len(buf) < RECORD_CAP:
                    buf.extend(data[: RECORD_CAP - len(buf)])
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def url(self, stream):
        return f"rtmp://127.0.0.1:{self.port}/live/{stream}"


def run(label, cmd, timeout=30, background=False):
    log(label + ":", " ".join(cmd))
    kwargs = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if background:
        return subprocess.Popen(cmd, **kwargs)
    try:
        subprocess.run(cmd, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        log(label, "timed out (kept what it sent)")


def ffmpeg_publish(ffmpeg, url, seconds, extra=()):
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(seconds), *extra, "-threads", "1", "-pix_fmt", "yuv420p", "-g", "25",
            "-flvflags", "no_duration_filesize", "-f", "flv", url]


H264_AAC = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-c:a", "aac", "-b:a", "64k"]


# ---- AMF0 and RTMP chunks, just enough for the OBS-style client and for splitting ----

def amf_str(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_num(n):
    return b"\x00" + struct.pack(">d", n)


def amf_obj(pairs):
    out = b"\x03"
    for k, v in pairs:
        out += struct.pack(">H", len(k)) + k.encode() + v
    return out + b"\x00\x00\x09"


def chunks(csid, type_id, stream_id, payload, chunk_size, ts=0):
    out = bytes([csid]) + struct.pack(">I", ts)[1:] + struct.pack(">I", len(payload))[1:]
    out += bytes([type_id]) + struct.pack("<I", stream_id)
    for i in range(0, max(len(payload), 1), chunk_size):
        if i:
            out += bytes([0xC0 | csid])
        out += payload[i:i + chunk_size]
    return out


def obs_style_publish(port, stream, seconds=1.5):
    """Publishes like OBS (librtmp): simple handshake, FMLE connect, releaseStream, FCPublish
    and createStream without waiting, publish, @setDataFrame, then AVC and AAC frames."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    c1 = struct.pack(">I", 0) + b"\0\0\0\0" + os.urandom(1528)
    s.sendall(b"\x03" + c1)
    got = b""
    while len(got) < HANDSHAKE:
        data = s.recv(65536)
        if not data:
            raise SystemExit("make_seeds: obs-style: the relay closed during the handshake")
        got += data
    s.sendall(got[1:1537])  # C2 echoes S1
    size = 4096
    out = chunks(2, 1, 0, struct.pack(">I", size), 128)
    connect = amf_str("connect") + amf_num(1) + amf_obj([
        ("app", amf_str("live")), ("type", amf_str("nonprivate")),
        ("flashVer", amf_str("FMLE/3.0 (compatible; FMSc/1.0)")),
        ("swfUrl", amf_str(f"rtmp://127.0.0.1:{port}/live")),
        ("tcUrl", amf_str(f"rtmp://127.0.0.1:{port}/live"))])
    out += chunks(3, 20, 0, connect, size)
    out += chunks(3, 20, 0, amf_str("releaseStream") + amf_num(2) + b"\x05" + amf_str(stream), size)
    out += chunks(3, 20, 0, amf_str("FCPublish") + amf_num(3) + b"\x05" + amf_str(stream), size)
    out += chunks(3, 20, 0, amf_str("createStream") + amf_num(4) + b"\x05", size)
    s.sendall(out)
    time.sleep(0.3)
    out = chunks(4, 20, 1, amf_str("publish") + amf_num(5) + b"\x05" + amf_str(stream)
                 + amf_str("live"), size)
    meta = amf_str("@setDataFrame") + amf_str("onMetaData") + b"\x08\0\0\0\x03" \
        + b"\0\x05width" + amf_num(160) + b"\0\x06height" + amf_num(120) \
        + b"\0\x0cvideocodecid" + amf_num(7) + b"\0\0\x09"
    out += chunks(4, 18, 1, meta, size)
    out += chunks(6, 9, 1, bytes([0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 4,
                                  0x67, 0x42, 0xc0, 0x1e, 1, 0, 4, 0x68, 0xce, 0x3c, 0x80]), size)
    out += chunks(4, 8, 1, bytes([0xaf, 0, 0x11, 0x90]), size)
    s.sendall(out)
    frames = int(seconds * 25)
    for n in range(frames):
        key = n % 25 == 0
        nal = bytes([0x65 if key else 0x41]) + os.urandom(300 if key else 60)
        video = bytes([0x17 if key else 0x27, 1, 0, 0, 0]) + struct.pack(">I", len(nal)) + nal
        audio = bytes([0xaf, 1]) + os.urandom(40)
        s.sendall(chunks(6, 9, 1, video, size, n * 40) + chunks(4, 8, 1, audio, size, n * 40 + 5))
        time.sleep(0.04)
    s.sendall(chunks(3, 20, 0, amf_str("FCUnpublish") + amf_num(6) + b"\x05"
                     + amf_str(stream), size)
              + chunks(3, 20, 0, amf_str("deleteStream") + amf_num(7) + b"\x05" + amf_num(1), size))
    time.sleep(0.2)
    s.close()


def messages(stream):
    """(type_id, payload) of every complete message of a chunk stream (after the handshake)."""
    out, pos, chunk_size, state = [], 0, 128, {}
    while pos < len(stream):
        b = stream[pos]
        fmt, csid, pos = b >> 6, b & 0x3F, pos + 1
        if csid == 0:
            if pos >= len(stream):
                break
            csid, pos = 64 + stream[pos], pos + 1
        elif csid == 1:
            if pos + 2 > len(stream):
                break
            csid, pos = 64 + stream[pos] + 256 * stream[pos + 1], pos + 2
        st = state.setdefault(csid, {"ts": 0, "len": 0, "type": 0, "sid": 0, "buf": b"", "ext": False})
        hlen = (11, 7, 3, 0)[fmt]
        if pos + hlen > len(stream):
            break
        h = stream[pos:pos + hlen]
        pos += hlen
        if fmt <= 2:
            ts = int.from_bytes(h[0:3], "big")
            st["ext"] = ts == 0xFFFFFF
        if fmt <= 1:
            st["len"], st["type"] = int.from_bytes(h[3:6], "big"), h[6]
        if fmt == 0:
            st["sid"] = int.from_bytes(h[7:11], "little")
        if st["ext"]:
            pos += 4
        take = min(chunk_size, st["len"] - len(st["buf"]))
        if pos + take > len(stream):
            break
        st["buf"] += stream[pos:pos + take]
        pos += take
        if len(st["buf"]) >= st["len"]:
            payload, st["buf"] = st["buf"], b""
            if st["type"] == 1 and len(payload) >= 4:
                chunk_size = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF or 128
            out.append((st["type"], payload))
    return out


def ops_for_core(streams):
    """A shard_core op list (see fuzz_targets/shard_core.rs): accept one connection per
    stream on shard 0, listener 0, then their bytes interleaved in pieces, every send
    completed and the clock moved 40 ms after each round."""
    out = b""
    for _ in streams:
        out += bytes([0, 0])
    pos, piece = 0, 1400
    while any(pos < len(s) for s in streams):
        for k, s in enumerate(streams):
            part = s[pos:pos + piece]
            if part:
                out += bytes([1, k]) + struct.pack("<H", len(part)) + part
        out += bytes([8, 6]) + struct.pack("<H", 40)
        pos += piece
    return out


class Seeds:
    def __init__(self):
        self.count, self.bytes = {}, 0

    def add(self, target, name, data):
        if not data:
            return
        d = os.path.join(SEEDS, target)
        os.makedirs(d, exist_ok=True)
        digest = hashlib.sha1(data).hexdigest()[:10]
        with open(os.path.join(d, f"{name}-{digest}"), "wb") as f:
            f.write(data)
        self.count[target] = self.count.get(target, 0) + 1
        self.bytes += len(data)


def proxy_headers(seeds):
    rtmp = b"\x03" + bytes(16)
    v2 = b"\r\n\r\n\0\r\nQUIT\n"
    tcp4 = socket.inet_aton("192.0.2.10") + socket.inet_aton("127.0.0.1") + struct.pack(">HH", 40000, 1935)
    tcp6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1") + socket.inet_pton(socket.AF_INET6, "::1") \
        + struct.pack(">HH", 40000, 1935)
    tlv = b"\x01\x00\x04rtmp" + b"\x04\x00\x01\x00"
    headers = {
        "v1-tcp4": b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 1935\r\n",
        "v1-tcp6": b"PROXY TCP6 2001:db8::1 ::1 40000 1935\r\n",
        "v1-unknown": b"PROXY UNKNOWN\r\n",
        "v2-tcp4": v2 + b"\x21\x11" + struct.pack(">H", len(tcp4)) + tcp4,
        "v2-tcp6-tlv": v2 + b"\x21\x21" + struct.pack(">H", len(tcp6 + tlv)) + tcp6 + tlv,
        "v2-local": v2 + b"\x20\x00\x00\x00",
        "v2-unix": v2 + b"\x21\x31" + struct.pack(">H", 216) + bytes(216),
        "v2-udp4": v2 + b"\x21\x12" + struct.pack(">H", len(tcp4)) + tcp4,
    }
    for name, h in headers.items():
        seeds.add("proxy", name, h + rtmp)
    return headers


def amf3_seeds(seeds):
    """AMF3 values by hand: the peers here never send AMF3 commands."""
    u29 = lambda n: bytes([n]) if n < 0x80 else bytes([0x80 | n >> 7, n & 0x7F])
    s3 = lambda s: u29(len(s) << 1 | 1) + s.encode()
    values = {
        "int": b"\x04" + u29(300),
        "double": b"\x05" + struct.pack(">d", 1.5),
        "string-ref": b"\x09" + u29(3 << 1 | 1) + b"\x01" + b"\x06" + s3("abc") + b"\x06\x00",
        "dynamic-object": b"\x0a\x0b\x01" + s3("app") + b"\x06" + s3("live") + b"\x01",
        "sealed-object": b"\x0a" + u29(2 << 4 | 3) + s3("Cls") + s3("a") + s3("b") + b"\x04\x01\x03",
        "object-ref": b"\x09\x05\x01\x0a\x0b\x01\x01\x0a\x00",
        "byte-array": b"\x0c" + u29(4 << 1 | 1) + b"\x01\x02\x03\x04",
        "date": b"\x08\x01" + struct.pack(">d", 1e12),
        "xml": b"\x0b" + s3("<a/>"),
        "vector-int": b"\x0d" + u29(2 << 1 | 1) + b"\x00" + struct.pack(">ii", 1, -1),
        "dictionary": b"\x11" + u29(1 << 1 | 1) + b"\x00" + b"\x06" + s3("k") + b"\x04\x01",
    }
    for name, v in values.items():
        seeds.add("amf3", name, v)
    # Type 17 framing: a 0 byte, then AMF0 values with an avmplus switch (0x11) to AMF3.
    seeds.add("amf3", "command-switch", b"\x00" + amf_str("connect") + amf_num(1)
              + b"\x11" + values["dynamic-object"])


def flv_file(media):
    out = b"FLV\x01\x05\0\0\0\x09\0\0\0\0"
    for ts, (type_id, payload) in enumerate(media):
        tag = bytes([type_id]) + struct.pack(">I", len(payload))[1:] + struct.pack(">I", ts * 20)[1:] \
            + bytes([0]) + b"\0\0\0" + payload
        out += tag + struct.pack(">I", len(tag))
    return out


def main():
    edge = os.path.join(ROOT, "target", "debug", "rtmp-edge")
    loadtest = os.path.join(ROOT, "target", "debug", "rtmp-loadtest")
    log("building rtmp-edge and rtmp-loadtest (debug)")
    subprocess.run(["cargo", "build", "-q", "-p", "rtmp-edge", "-p", "rtmp-loadtest"],
                   cwd=ROOT, check=True)
    if "--keep-old" not in sys.argv:
        shutil.rmtree(SEEDS, ignore_errors=True)
    port = free_port()
    relay = subprocess.Popen([edge, "--listen", f"127.0.0.1:{port}", "--shards", "1",
                              "--log-level", "warn"], stdin=subprocess.DEVNULL)
    try:
        wait_port(port)
        cap = Capture(port)
        direct = f"rtmp://127.0.0.1:{port}/live/"
        have = lambda tool: shutil.which(tool) is not None
        sessions = []

        def through(label, fn):
            cap.label = label
            fn()
            time.sleep(0.3)
            sessions.append(label)

        if have("ffmpeg"):
            through("ffmpeg-publish", lambda: run("ffmpeg", ffmpeg_publish(
                "ffmpeg", cap.url("ff"), 1.5, H264_AAC)))
            # Players need a stream: a publisher straight to the relay, players through the proxy.
            feeder = run("feeder", ffmpeg_publish("ffmpeg", direct + "fed", 8, H264_AAC),
                         background=True)
            time.sleep(1.5)
            through("ffmpeg-play", lambda: run("ffmpeg", ["ffmpeg", "-nostdin", "-loglevel", "error",
                                                         "-rw_timeout", "5000000", "-t", "1", "-i",
                                                         cap.url("fed"), "-c", "copy", "-f", "null", "-"]))
            if have("rtmpdump"):
                through("rtmpdump-play", lambda: run("rtmpdump", [
                    "rtmpdump", "--live", "-q", "-m", "3", "-B", "1", "-r", cap.url("fed"),
                    "-o", os.devnull]))
            if have("gst-launch-1.0"):
                through("gst-play", lambda: run("gst", [
                    "gst-launch-1.0", "-q", "rtmp2src", f"location={cap.url('fed')}",
                    "num-buffers=40", "!", "fakesink"], timeout=20))
            if os.path.exists(loadtest):
                through("loadtest", lambda: run("rtmp-loadtest", [
                    loadtest, "--url", cap.url("lt"), "--players", "1", "--duration", "1"], timeout=30))
                through("loadtest-enhanced", lambda: run("rtmp-loadtest", [
                    loadtest, "--url", cap.url("lte"), "--players", "1", "--duration", "1",
                    "--enhanced-players", "1"], timeout=30))
            feeder.wait(timeout=30)
        if have("gst-launch-1.0"):
            through("gst-publish", lambda: run("gst", [
                "gst-launch-1.0", "-q", "-e", "videotestsrc", "num-buffers=40", "!",
                "video/x-raw,width=160,height=120,framerate=25/1", "!", "x264enc",
                "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=25", "!", "h264parse",
                "!", "flvmux", "streamable=true", "!", f"rtmp2sink", f"location={cap.url('gst')}"],
                timeout=30))
        through("obs-style-publish", lambda: obs_style_publish(cap.port, "obs"))
        try:
            import imageio_ffmpeg
            ffmpeg9 = imageio_ffmpeg.get_ffmpeg_exe()
        except Exception:  # not installed: the enhanced seeds are left out
            ffmpeg9 = None
            log("imageio-ffmpeg missing: no Enhanced RTMP seeds")
        if ffmpeg9:
            through("ffmpeg9-hevc-opus", lambda: run("ffmpeg9", ffmpeg_publish(
                ffmpeg9, cap.url("hevc"), 1.2, ["-map", "0:v", "-map", "1:a", "-c:v", "libx265",
                                                "-preset", "ultrafast", "-x265-params",
                                                "log-level=error", "-c:a", "libopus"])))
            through("ffmpeg9-multitrack", lambda: run("ffmpeg9", ffmpeg_publish(
                ffmpeg9, cap.url("mt"), 1.2, ["-f", "lavfi", "-i", "sine=frequency=880",
                                              "-map", "0:v", "-map", "1:a", "-map", "2:a",
                                              *H264_AAC])))
    finally:
        relay.terminate()
        relay.wait(timeout=10)
    time.sleep(0.2)

    seeds = Seeds()
    proxy = proxy_headers(seeds)
    amf3_seeds(seeds)
    media = []
    with cap.lock:
        recorded = list(cap.sessions)
    for n, (label, c2s, s2c) in enumerate(recorded):
        c2s, s2c = bytes(c2s), bytes(s2c)
        if len(c2s) <= HANDSHAKE:
            log(f"{label}: only {len(c2s)} bytes, skipped")
            continue
        role = "publish" if amf_str("publish") in c2s else "play"
        name = f"{label}-{n}-{role}"
        log(f"{name}: {len(c2s)} bytes in, {len(s2c)} out")
        seeds.add("handshake_server", name, b"\x00" + c2s[:HANDSHAKE])
        digest_c1 = c2s[5:9] != b"\0\0\0\0"
        seeds.add("handshake_client", name, bytes([0x80 if digest_c1 else 0]) + s2c[:HANDSHAKE])
        seeds.add("chunk", name, b"\x00" + c2s[HANDSHAKE:HANDSHAKE + STREAM_CAP])
        # Policy 0x43: accept publishes and plays, split the input once more.
        seeds.add("server_session", name, b"\x43" + c2s[:STREAM_CAP])
        if label.startswith("loadtest"):
            policy = (1 if role == "play" else 0) | (4 if "enhanced" in label else 0) | 0x40
            seeds.add("client_session", name, bytes([policy]) + s2c[:STREAM_CAP])
        seeds.add("shard_core", name, ops_for_core([c2s[:STREAM_CAP]]))
        if role == "publish":
            seeds.add("shard_core", name + "-proxy", bytes([0, 2]) + bytes([1, 0]) + struct.pack(
                "<H", len(proxy["v1-tcp4"])) + proxy["v1-tcp4"] + ops_for_core([c2s[:STREAM_CAP]])[2:])
        seen = set()
        for direction, stream in (("c2s", c2s), ("s2c", s2c)):
            for type_id, payload in messages(stream[HANDSHAKE:]):
                if type_id in (18, 20):
                    key = payload[:40]
                    if key not in seen:
                        seen.add(key)
                        seeds.add("amf0", f"{name}-{direction}-{type_id}", payload[:STREAM_CAP])
                        if type_id == 20:
                            seeds.add("amf3", f"{name}-{direction}-17", b"\x00" + payload[:STREAM_CAP])
                if type_id in (8, 9) and direction == "c2s":
                    key = (type_id, payload[:2])
                    if key not in seen:
                        seen.add(key)
                        seeds.add("flv", f"{name}-{type_id}", payload[:MEDIA_CAP])
                    if len(media) < 64 and len(payload) < 4096:
                        media.append((type_id, payload))
    # Two publishers and a player on one core, and on both cores.
    publishers = [bytes(c)[:STREAM_CAP] for l, c, _ in recorded if amf_str("publish") in c]
    players = [bytes(c)[:STREAM_CAP] for l, c, _ in recorded if amf_str("publish") not in c]
    if publishers and players:
        seeds.add("shard_core", "publisher-and-player", ops_for_core([publishers[0], players[0]]))
    seeds.add("flv", "file", flv_file(media)[:STREAM_CAP])
    for target, count in sorted(seeds.count.items()):
        log(f"{target}: {count} seeds")
    log(f"{sum(seeds.count.values())} seeds, {seeds.bytes} bytes in {SEEDS}")
    missing = {"handshake_server", "handshake_client", "chunk", "amf0", "amf3", "flv", "proxy",
               "server_session", "client_session", "shard_core"} - set(seeds.count)
    if missing:
        raise SystemExit(f"make_seeds: no seeds for {sorted(missing)}")


if __name__ == "__main__":
    main()
