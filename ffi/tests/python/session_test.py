#!/usr/bin/env python3
"""The install scenario of ffi/tests/c/session_test.c, through ctypes against
the cdylib: what a Swift or Kotlin (JNA/Panama) binding does with the same C
ABI. Run by `cargo test -p otaseal-ffi` (ffi/tests/python.rs):

    session_test.py LIBOTASEAL_FFI FIXTURE_DIR NOW
"""
import ctypes as C
import sys
from pathlib import Path

OK, ERR_USAGE, ERR_KEY, ERR_POLICY = 0, 2, 5, 8
NO_CHUNK = 0xFFFFFFFF
DECISION_FIRST_INSTALL = 1
APP, CHANNEL = b"com.example.app", b"stable"


class Buffer(C.Structure):
    _fields_ = [("ptr", C.POINTER(C.c_uint8)), ("len", C.c_size_t)]

    def bytes(self):
        return C.string_at(self.ptr, self.len) if self.len else b""


class Options(C.Structure):
    _fields_ = [
        ("now", C.c_uint64),
        ("max_request_bytes", C.c_uint64),
        ("app_id", C.c_char_p),
        ("app_id_len", C.c_size_t),
        ("device_state", C.c_char_p),
        ("device_state_len", C.c_size_t),
        ("switch_channel", C.c_char_p),
        ("switch_channel_len", C.c_size_t),
        ("require_expiry", C.c_bool),
    ]


class Info(C.Structure):
    _fields_ = [
        ("payload_len", C.c_uint64),
        ("chunk_size", C.c_uint64),
        ("chunk_count", C.c_uint32),
        ("verified_count", C.c_uint32),
        ("decrypted_count", C.c_uint32),
        ("complete", C.c_bool),
        ("sequence", C.c_uint64),
        ("created", C.c_uint64),
        ("expires", C.c_uint64),
    ]


class Range(C.Structure):
    _fields_ = [
        ("offset", C.c_uint64),
        ("len", C.c_uint64),
        ("first_chunk", C.c_uint32),
        ("chunk_count", C.c_uint32),
    ]


class FeedReport(C.Structure):
    _fields_ = [
        ("verified_count", C.c_uint32),
        ("failed_count", C.c_uint32),
        ("ignored_bytes", C.c_uint64),
        ("dropped_partial", C.c_uint32),
        ("complete", C.c_bool),
    ]


class Finished(C.Structure):
    _fields_ = [
        ("decision", C.c_uint32),
        ("sequence", C.c_uint64),
        ("from_sequence", C.c_uint64),
        ("device_state", Buffer),
    ]


STORE = C.CFUNCTYPE(C.c_int32, C.c_void_p, C.c_uint32, C.c_uint64, C.c_void_p, C.c_size_t)


def load(path):
    lib = C.CDLL(path)
    P = C.c_void_p
    sigs = {
        "otaseal_version": ([], C.c_char_p),
        "otaseal_last_error_message": ([C.c_char_p, C.c_size_t], C.c_size_t),
        "otaseal_buffer_free": ([C.POINTER(Buffer)], None),
        "otaseal_device_state_new": ([P, C.c_size_t, C.POINTER(Buffer)], C.c_int32),
        "otaseal_trust_from_signing_key": ([C.c_char_p, C.c_size_t, C.POINTER(P)], C.c_int32),
        "otaseal_trust_free": ([P], None),
        "otaseal_session_new": ([C.c_char_p, C.c_size_t, P, C.POINTER(Options), C.POINTER(P)], C.c_int32),
        "otaseal_session_free": ([P], None),
        "otaseal_session_info": ([P, C.POINTER(Info)], C.c_int32),
        "otaseal_session_chunk_range": ([P, C.c_uint32, C.POINTER(C.c_uint64), C.POINTER(C.c_uint64)], C.c_int32),
        "otaseal_session_needed": ([P, C.POINTER(Range), C.POINTER(C.c_size_t)], C.c_int32),
        "otaseal_session_feed": ([P, C.c_uint64, C.c_char_p, C.c_size_t, STORE, P, C.POINTER(FeedReport)], C.c_int32),
        "otaseal_session_last_verified": ([P, C.POINTER(C.c_uint32), C.POINTER(C.c_size_t)], C.c_int32),
        "otaseal_session_last_failed": ([P, C.POINTER(C.c_uint32), C.POINTER(C.c_size_t)], C.c_int32),
        "otaseal_session_unlock": ([P, C.c_char_p, C.c_size_t], C.c_int32),
        "otaseal_session_decrypt_chunk": ([P, C.c_uint32, C.c_char_p, C.c_size_t, C.c_void_p, C.c_size_t], C.c_int32),
        "otaseal_session_export": ([P, C.POINTER(Buffer)], C.c_int32),
        "otaseal_session_restore": ([P, C.c_char_p, C.c_size_t, C.POINTER(C.c_uint32)], C.c_int32),
        "otaseal_session_to_recheck": ([P, C.POINTER(C.c_uint32), C.POINTER(C.c_size_t)], C.c_int32),
        "otaseal_session_recheck": ([P, C.c_uint32, C.c_char_p, C.c_size_t, C.POINTER(C.c_bool)], C.c_int32),
        "otaseal_session_finish": ([P, C.POINTER(Finished)], C.c_int32),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


class OtasealError(Exception):
    def __init__(self, what, code, message):
        super().__init__(f"{what}: status {code}: {message}")
        self.code, self.message = code, message


class Lib:
    """A thin wrapper: raises OtasealError with the library's message."""

    def __init__(self, path):
        self.c = load(path)

    def message(self):
        n = self.c.otaseal_last_error_message(None, 0)
        buf = C.create_string_buffer(n + 1)
        self.c.otaseal_last_error_message(buf, n + 1)
        return buf.value.decode()

    def __getattr__(self, name):
        fn = getattr(self.c, "otaseal_" + name)

        def call(*args):
            rc = fn(*args)
            if rc != OK:
                raise OtasealError(name, rc, self.message())

        return call


def ok(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def expect_code(what, code, f, *args):
    try:
        f(*args)
    except OtasealError as e:
        ok(e.code == code and e.message, f"{what} (status {e.code}: {e.message})")
        return
    ok(False, f"{what}: succeeded")


def shuffled(items):
    # The C program's LCG, so both scenarios feed in the same order.
    items, x = list(items), 0x9E3779B97F4A7C15
    for i in range(len(items), 1, -1):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        j = (x >> 33) % i
        items[i - 1], items[j] = items[j], items[i - 1]
    return items


def main():
    lib = Lib(sys.argv[1])
    d, now = Path(sys.argv[2]), int(sys.argv[3])
    print("otaseal", lib.c.otaseal_version().decode())
    manifest = (d / "manifest.bin").read_bytes()
    payload = (d / "payload.bin").read_bytes()
    plain = (d / "plain.bin").read_bytes()
    device_key = bytearray((d / "device.key").read_bytes())
    signer = (d / "signer.pub").read_bytes()
    high = (d / "state_high.bin").read_bytes()

    trust = C.c_void_p()
    lib.trust_from_signing_key(signer, len(signer), C.byref(trust))
    fresh = Buffer()
    lib.device_state_new(None, 0, C.byref(fresh))
    fresh_bytes = fresh.bytes()
    lib.c.otaseal_buffer_free(C.byref(fresh))

    def options(state, channel=CHANNEL):
        o = Options(now=now, max_request_bytes=2 * 16384)
        o.app_id, o.app_id_len = APP, len(APP)
        o.device_state, o.device_state_len = state, len(state)
        if channel:
            o.switch_channel, o.switch_channel_len = channel, len(channel)
        return o

    def new_session(state):
        s = C.c_void_p()
        o = options(state)
        lib.session_new(manifest, len(manifest), trust, C.byref(o), C.byref(s))
        return s

    # 1. A downgrade is refused at creation.
    s = C.c_void_p()
    expect_code("downgrade refused at creation", ERR_POLICY, lib.session_new,
                manifest, len(manifest), trust, C.byref(options(high, None)), C.byref(s))
    ok(not s.value, "no session after a refusal")

    # 2. Shuffled ranges, one corrupted chunk.
    s = new_session(fresh_bytes)
    info = Info()
    lib.session_info(s, C.byref(info))
    ok(info.payload_len == len(payload) and info.sequence == 7, "session info")
    disk = bytearray(len(payload))
    stores = [0] * info.chunk_count

    @STORE
    def store(ctx, index, offset, ptr, n):
        disk[offset:offset + n] = C.string_at(ptr, n)
        stores[index] += 1
        return 0

    def needed():
        count = C.c_size_t(0)
        lib.session_needed(s, None, C.byref(count))
        arr = (Range * max(count.value, 1))()
        cap = C.c_size_t(count.value)
        lib.session_needed(s, arr, C.byref(cap))
        return [arr[i] for i in range(cap.value)]

    def indices(fn):
        arr, n = (C.c_uint32 * 64)(), C.c_size_t(64)
        fn(s, arr, C.byref(n))
        return list(arr[: n.value])

    def feed(offset, data):
        rep = FeedReport()
        lib.session_feed(s, offset, bytes(data), len(data), store, None, C.byref(rep))
        return rep

    def feed_split(wire, r):
        cut = r.len // 3 + 1
        failed = []
        for off, n in ((r.offset, cut), (r.offset + cut, r.len - cut)):
            if feed(off, wire[off:off + n]).failed_count:
                failed += indices(lib.session_last_failed)
        return failed

    requests = shuffled(needed())
    ok(len(requests) == (info.chunk_count + 1) // 2, "two chunks per request")
    bad = requests[0].first_chunk
    wire = bytearray(payload)
    wire[bad * info.chunk_size + 100] ^= 0x40
    failed = []
    for r in requests[: len(requests) // 2 + 1]:
        failed += feed_split(wire, r)
    ok(failed == [bad], "the corrupted chunk is rejected")
    ok(stores[bad] == 0, "nothing of it was stored")
    off, n = C.c_uint64(), C.c_uint64()
    lib.session_chunk_range(s, bad, C.byref(off), C.byref(n))
    out = C.create_string_buffer(len(payload))
    expect_code("an unverified chunk does not decrypt", ERR_USAGE, lib.session_decrypt_chunk,
                s, bad, payload[off.value:off.value + n.value], n.value, out, n.value)
    rep = feed(off.value, payload[off.value:off.value + n.value])
    ok(rep.verified_count == 1 and rep.failed_count == 0
       and indices(lib.session_last_verified) == [bad],
       "the chunk fed again correctly is accepted")

    # 3. Crash: keep the record, lose the session.
    record = Buffer()
    lib.session_export(s, C.byref(record))
    record_bytes = record.bytes()
    lib.c.otaseal_buffer_free(C.byref(record))
    lib.session_info(s, C.byref(info))
    had = info.verified_count
    lib.c.otaseal_session_free(s)
    print(f"crash after {had} verified chunks; record {len(record_bytes)} bytes")

    s = new_session(fresh_bytes)
    claimed = C.c_uint32()
    lib.session_restore(s, record_bytes, len(record_bytes), C.byref(claimed))
    ok(claimed.value == had, "the record claims every chunk stored before the crash")
    todo = indices(lib.session_to_recheck)
    for i in todo:
        lib.session_chunk_range(s, i, C.byref(off), C.byref(n))
        good = C.c_bool()
        lib.session_recheck(s, i, bytes(disk[off.value:off.value + n.value]), n.value, C.byref(good))
        ok(good.value, f"stored chunk {i} rechecked")
    for r in shuffled(needed()):
        ok(feed_split(payload, r) == [], f"chunks {r.first_chunk}.. verified")
    lib.session_info(s, C.byref(info))
    ok(info.complete and bytes(disk) == payload, "complete; the stored payload is the sealed one")
    ok(all(c == 1 for c in stores), "every chunk stored once")

    # 4. Decrypt.
    fin = Finished()
    expect_code("finish before decrypting is refused, the session goes on", ERR_USAGE,
                lib.session_finish, s, C.byref(fin))
    expect_code("a public signing key does not unlock", ERR_KEY, lib.session_unlock,
                s, signer, len(signer))
    key = (C.c_char * len(device_key)).from_buffer(device_key)
    lib.session_unlock(s, key, len(device_key))
    device_key[:] = bytes(len(device_key))  # the caller wipes its copy
    for i in range(info.chunk_count):
        lib.session_chunk_range(s, i, C.byref(off), C.byref(n))
        chunk = bytes(disk[off.value:off.value + n.value])
        lib.session_decrypt_chunk(s, i, chunk, n.value, C.byref(out, off.value), n.value)
    ok(out.raw == plain, "the decrypted payload is the plaintext")

    # 5. Finish.
    lib.session_finish(s, C.byref(fin))
    ok(fin.decision == DECISION_FIRST_INSTALL and fin.sequence == 7 and fin.device_state.len > 0,
       "finished: first install of sequence 7, new device state")
    new_state = fin.device_state.bytes()
    lib.c.otaseal_buffer_free(C.byref(fin.device_state))
    lib.c.otaseal_session_free(s)

    # 6. The same bundle again: refused.
    again = C.c_void_p()
    expect_code("installing sequence 7 again is refused", ERR_POLICY, lib.session_new,
                manifest, len(manifest), trust, C.byref(options(new_state, None)), C.byref(again))
    lib.c.otaseal_trust_free(trust)
    print("PASS")


if __name__ == "__main__":
    main()
