/*
 * The worked example of docs/EMBEDDING.md, run by `cargo test -p otaseal-ffi`
 * (ffi/tests/c_program.rs): a device installs a sealed bundle through the C
 * ABI of otaseal's session.
 *
 *   session_test FIXTURE_DIR NOW
 *
 * FIXTURE_DIR holds manifest.bin, payload.bin (the sealed bundle, sequence
 * 7, app com.example.app, channel stable), plain.bin (its plaintext),
 * device.key (the device's secret key text), signer.pub (the signing public
 * key text) and state_high.bin (a device state with sequence 9 installed).
 *
 * The scenario: a downgrade is refused at creation; the payload arrives in
 * shuffled, split ranges with one corrupted chunk, which is rejected and
 * then accepted when fed again correctly; progress is exported and the
 * session destroyed (a simulated crash); a new session restores the record,
 * rechecks the stored chunks, fetches the rest, decrypts every chunk and
 * compares the plaintext, and finishes with the new device state; installing
 * the same bundle again on that state is refused (a replay).
 */
#include "otaseal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char APP[] = "com.example.app";
static const char CHANNEL[] = "stable";

static void die(const char *what, int32_t rc) {
    char msg[512];
    otaseal_last_error_message(msg, sizeof msg);
    fprintf(stderr, "FAIL: %s: status %d: %s\n", what, (int)rc, msg);
    exit(1);
}

#define CHECK(call)                        \
    do {                                   \
        int32_t rc_ = (call);              \
        if (rc_ != OTASEAL_OK) die(#call, rc_); \
    } while (0)

static void expect(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "FAIL: %s\n", what);
        exit(1);
    }
    printf("ok: %s\n", what);
}

/* A call that must fail with `code`; prints the library's message. */
static void expect_code(int32_t rc, int32_t code, const char *what) {
    char msg[512];
    size_t n = otaseal_last_error_message(msg, sizeof msg);
    if (rc != code || n == 0) {
        fprintf(stderr, "FAIL: %s: status %d (want %d): %s\n", what, (int)rc, (int)code, msg);
        exit(1);
    }
    printf("ok: %s (status %d: %s)\n", what, (int)rc, msg);
}

static unsigned char *read_file(const char *dir, const char *name, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The device's storage for the payload: what `store` received. */
struct disk {
    unsigned char *bytes;
    unsigned *stores; /* per chunk */
    uint64_t chunk_size;
};

static int32_t store(void *ctx, uint32_t index, uint64_t offset, const uint8_t *bytes, size_t len) {
    struct disk *d = ctx;
    memcpy(d->bytes + offset, bytes, len);
    d->stores[index] += 1;
    return 0;
}

/* Deterministic shuffle (a fixed LCG), so a failure replays. */
static void shuffle(OtasealRange *r, size_t n) {
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = n; i > 1; i--) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        size_t j = (size_t)((x >> 33) % i);
        OtasealRange t = r[i - 1];
        r[i - 1] = r[j];
        r[j] = t;
    }
}

/* The ranges still needed, in a malloc'd array (count query, then fill). */
static OtasealRange *needed(const OtasealSession *s, size_t *n) {
    size_t count = 0;
    CHECK(otaseal_session_needed(s, NULL, &count));
    OtasealRange *r = calloc(count ? count : 1, sizeof *r);
    size_t cap = count;
    CHECK(otaseal_session_needed(s, r, &cap));
    expect(cap == count, "needed: the count query and the fill agree");
    *n = count;
    return r;
}

/* Feeds one range in two pieces cut at an unaligned point: the chunk cut in
 * two is assembled in the session's one partial buffer. Returns the failed
 * chunks' count and adds the first failed index to *failed. */
static uint32_t feed_split(OtasealSession *s, struct disk *d, const unsigned char *wire,
                           OtasealRange r, uint32_t *failed) {
    uint64_t cut = r.len / 3 + 1;
    uint64_t pieces[2][2] = {{r.offset, cut}, {r.offset + cut, r.len - cut}};
    uint32_t nfailed = 0;
    for (int p = 0; p < 2; p++) {
        OtasealFeedReport rep;
        CHECK(otaseal_session_feed(s, pieces[p][0], wire + pieces[p][0], (size_t)pieces[p][1],
                                   store, d, &rep));
        if (rep.failed_count > 0) {
            uint32_t idx[8];
            size_t n = 8;
            CHECK(otaseal_session_last_failed(s, idx, &n));
            *failed = idx[0];
            nfailed += rep.failed_count;
        }
    }
    return nfailed;
}

static OtasealSession *new_session(const unsigned char *manifest, size_t manifest_len,
                                   const OtasealTrust *trust, uint64_t now,
                                   const OtasealBuffer *state) {
    OtasealOptions o;
    memset(&o, 0, sizeof o);
    o.now = now;
    o.max_request_bytes = 2 * 16384; /* two chunks per request */
    o.app_id = (const uint8_t *)APP;
    o.app_id_len = strlen(APP);
    o.device_state = state->ptr;
    o.device_state_len = state->len;
    o.switch_channel = (const uint8_t *)CHANNEL;
    o.switch_channel_len = strlen(CHANNEL);
    OtasealSession *s = NULL;
    CHECK(otaseal_session_new(manifest, manifest_len, trust, &o, &s));
    return s;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s FIXTURE_DIR NOW\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    uint64_t now = strtoull(argv[2], NULL, 10);
    printf("otaseal %s\n", otaseal_version());

    size_t manifest_len, payload_len, plain_len, key_len, signer_len, high_len;
    unsigned char *manifest = read_file(dir, "manifest.bin", &manifest_len);
    unsigned char *payload = read_file(dir, "payload.bin", &payload_len);
    unsigned char *plain = read_file(dir, "plain.bin", &plain_len);
    unsigned char *device_key = read_file(dir, "device.key", &key_len);
    unsigned char *signer = read_file(dir, "signer.pub", &signer_len);
    unsigned char *high = read_file(dir, "state_high.bin", &high_len);

    OtasealTrust *trust = NULL;
    CHECK(otaseal_trust_from_signing_key(signer, signer_len, &trust));
    OtasealBuffer fresh = {NULL, 0};
    CHECK(otaseal_device_state_new(NULL, 0, &fresh));

    /* 1. A device with sequence 9 installed refuses sequence 7 at creation. */
    {
        OtasealOptions o;
        memset(&o, 0, sizeof o);
        o.now = now;
        o.app_id = (const uint8_t *)APP;
        o.app_id_len = strlen(APP);
        o.device_state = high;
        o.device_state_len = high_len;
        OtasealSession *s = (OtasealSession *)1;
        int32_t rc = otaseal_session_new(manifest, manifest_len, trust, &o, &s);
        expect_code(rc, OTASEAL_ERR_POLICY, "downgrade refused at creation");
        expect(s == NULL, "no session after a refusal");
    }

    /* 2. Download in shuffled ranges, one chunk corrupted on the wire. */
    OtasealSession *s = new_session(manifest, manifest_len, trust, now, &fresh);
    OtasealSessionInfo info;
    CHECK(otaseal_session_info(s, &info));
    expect(info.payload_len == payload_len && info.sequence == 7, "session info");
    printf("payload %llu bytes, %u chunks of %llu\n", (unsigned long long)info.payload_len,
           info.chunk_count, (unsigned long long)info.chunk_size);
    struct disk d = {calloc(payload_len, 1), calloc(info.chunk_count, sizeof(unsigned)),
                     info.chunk_size};

    size_t nreq;
    OtasealRange *req = needed(s, &nreq);
    expect(nreq == (info.chunk_count + 1) / 2, "two chunks per request");
    shuffle(req, nreq);
    uint32_t bad = req[0].first_chunk;
    unsigned char *wire = malloc(payload_len);
    memcpy(wire, payload, payload_len);
    wire[bad * info.chunk_size + 100] ^= 0x40;

    size_t half = nreq / 2 + 1;
    uint32_t failed = OTASEAL_NO_CHUNK, nfailed = 0;
    for (size_t i = 0; i < half; i++) nfailed += feed_split(s, &d, wire, req[i], &failed);
    expect(nfailed == 1 && failed == bad, "the corrupted chunk is rejected");
    expect(d.stores[bad] == 0, "nothing of it was stored");
    {
        uint64_t off, len;
        CHECK(otaseal_session_chunk_range(s, bad, &off, &len));
        unsigned char out[16384];
        expect_code(otaseal_session_decrypt_chunk(s, bad, payload + off, len, out, sizeof out),
                    OTASEAL_ERR_USAGE, "an unverified chunk does not decrypt");
        OtasealFeedReport rep;
        CHECK(otaseal_session_feed(s, off, payload + off, len, store, &d, &rep));
        uint32_t idx[4];
        size_t n = 4;
        CHECK(otaseal_session_last_verified(s, idx, &n));
        expect(rep.verified_count == 1 && rep.failed_count == 0 && n == 1 && idx[0] == bad,
               "the chunk fed again correctly is accepted");
        expect(d.stores[bad] == 1, "and stored once");
    }

    /* 3. A crash: keep the fetch record, lose the session. */
    OtasealBuffer record = {NULL, 0};
    CHECK(otaseal_session_export(s, &record));
    CHECK(otaseal_session_info(s, &info));
    uint32_t had = info.verified_count;
    otaseal_session_free(s);
    printf("crash after %u verified chunks; record %zu bytes\n", had, record.len);

    s = new_session(manifest, manifest_len, trust, now, &fresh);
    uint32_t claimed = 0;
    CHECK(otaseal_session_restore(s, record.ptr, record.len, &claimed));
    expect(claimed == had, "the record claims every chunk stored before the crash");
    otaseal_buffer_free(&record);
    expect(record.ptr == NULL && record.len == 0, "a freed buffer is reset");
    {
        uint32_t *todo = calloc(info.chunk_count, sizeof *todo);
        size_t n = info.chunk_count;
        CHECK(otaseal_session_to_recheck(s, todo, &n));
        expect(n == claimed, "every claimed chunk is to be rechecked");
        for (size_t i = 0; i < n; i++) {
            uint64_t off, len;
            CHECK(otaseal_session_chunk_range(s, todo[i], &off, &len));
            bool ok = false;
            CHECK(otaseal_session_recheck(s, todo[i], d.bytes + off, len, &ok));
            if (!ok) die("a stored chunk did not recheck", 0);
        }
        free(todo);
        printf("ok: %zu stored chunks rechecked\n", n);
    }
    free(req);
    req = needed(s, &nreq);
    shuffle(req, nreq);
    for (size_t i = 0; i < nreq; i++) {
        uint32_t f = OTASEAL_NO_CHUNK;
        if (feed_split(s, &d, payload, req[i], &f) != 0) die("a correct chunk failed", 0);
    }
    CHECK(otaseal_session_info(s, &info));
    expect(info.complete && memcmp(d.bytes, payload, payload_len) == 0,
           "complete; the stored payload is the sealed one");
    for (uint32_t i = 0; i < info.chunk_count; i++)
        if (d.stores[i] != 1) die("a chunk was stored twice", 0);

    /* 4. Decrypt. */
    unsigned char *out = malloc(payload_len);
    OtasealFinished fin;
    expect_code(otaseal_session_finish(s, &fin), OTASEAL_ERR_USAGE,
                "finish before decrypting is refused, the session goes on");
    expect_code(otaseal_session_decrypt_chunk(s, 0, d.bytes, (size_t)info.chunk_size, out,
                                              (size_t)info.chunk_size),
                OTASEAL_ERR_USAGE, "decrypting a locked session is refused");
    expect_code(otaseal_session_unlock(s, signer, signer_len), OTASEAL_ERR_KEY,
                "a public signing key does not unlock");
    CHECK(otaseal_session_unlock(s, device_key, key_len));
    memset(device_key, 0, key_len); /* the caller wipes its copy */
    for (uint32_t i = 0; i < info.chunk_count; i++) {
        uint64_t off, len;
        CHECK(otaseal_session_chunk_range(s, i, &off, &len));
        CHECK(otaseal_session_decrypt_chunk(s, i, d.bytes + off, len, out + off, len));
    }
    expect(plain_len == payload_len && memcmp(out, plain, plain_len) == 0,
           "the decrypted payload is the plaintext");

    /* 5. Finish: the install decision and the new device state. */
    CHECK(otaseal_session_finish(s, &fin));
    expect(fin.decision == OTASEAL_DECISION_FIRST_INSTALL && fin.sequence == 7 &&
               fin.device_state.len > 0,
           "finished: first install of sequence 7, new device state");
    expect_code(otaseal_session_export(s, &record), OTASEAL_ERR_USAGE,
                "a finished session answers nothing more");
    otaseal_session_free(s);

    /* 6. The same bundle again on the new state: a replay, refused. */
    {
        OtasealOptions o;
        memset(&o, 0, sizeof o);
        o.now = now;
        o.app_id = (const uint8_t *)APP;
        o.app_id_len = strlen(APP);
        o.device_state = fin.device_state.ptr;
        o.device_state_len = fin.device_state.len;
        OtasealSession *again = NULL;
        expect_code(otaseal_session_new(manifest, manifest_len, trust, &o, &again),
                    OTASEAL_ERR_POLICY, "installing sequence 7 again is refused");
    }

    otaseal_buffer_free(&fin.device_state);
    otaseal_buffer_free(&fresh);
    otaseal_trust_free(trust);
    free(out);
    free(wire);
    free(req);
    free(d.bytes);
    free(d.stores);
    free(manifest);
    free(payload);
    free(plain);
    free(device_key);
    free(signer);
    free(high);
    printf("PASS\n");
    return 0;
}
