/*
 * fuzz_text.c -- feed arbitrary bytes through the text protocol exactly as
 * a connection does (line splitting, value reads, swallows) against a real
 * storage engine.
 *
 * Built two ways:
 *   - with clang -fsanitize=fuzzer (tests/fuzz/build.sh): a libFuzzer target;
 *   - by `make check` as `fuzz_text_replay`: replays every file of
 *     tests/fuzz/corpus/ and then a bounded number of seeded random inputs
 *     (mutations of the corpus), so crashes found once stay fixed.
 * The only assertion is "no crash, no sanitizer report, replies framed".
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "item.h"
#include "log.h"
#include "obuf.h"
#include "proto.h"
#include "stats.h"

static struct thread_stats ts;

static void
setup_once(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    clock_setup();
    struct item_options o;
    item_options_default(&o);
    o.mem_limit = 8u << 20;
    o.item_size_max = 64 * 1024;
    o.slab_chunk_max = 16 * 1024;
    o.crawler = false;
    o.hash_expand = false;
    o.slab_automove = 0;
    char err[256];
    if (item_setup(&o, err, sizeof(err)) != 0) {
        fprintf(stderr, "item_setup: %s\n", err);
        abort();
    }
    proto_env.item_size_max = 64 * 1024;
}

/* The connection's byte loop, minus the socket (see src/net/conn.c). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    struct obuf out;
    struct proto_conn pc;
    obuf_init(&out);
    proto_conn_init(&pc, &out, &ts, 0);
    size_t pos = 0;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - (data + pos));
        const char *line = (const char *)data + pos;
        pos += len + 1;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        pc.last_in_batch = pos == size;
        enum proto_action a = proto_line(&pc, line, len);
        if (a == PROTO_READ_VALUE) {
            struct iovec *v = proto_value_iov(&pc);
            size_t need = pc.vlen;
            for (int i = 0; i < pc.nviov && need > 0; i++) {
                size_t k = v[i].iov_len < need ? v[i].iov_len : need;
                size_t have = size - pos < k ? size - pos : k;
                memcpy(v[i].iov_base, data + pos, have);
                pos += have;
                need -= have;
            }
            if (need > 0 || size - pos < 2) {
                proto_conn_deinit(&pc);      /* client went away mid-value */
                break;
            }
            proto_value_done(&pc, data[pos] == '\r' && data[pos + 1] == '\n');
            pos += 2;
        } else if (a == PROTO_SWALLOW) {
            size_t k = size - pos < pc.swallow ? size - pos : (size_t)pc.swallow;
            pos += k;
        } else if (a == PROTO_CLOSE || a == PROTO_CLOSE_NOW) {
            break;
        }
        if (out.pending > (1u << 20))
            obuf_reset(&out);
    }
    proto_conn_deinit(&pc);
    obuf_deinit(&out);
    log_set_level(0);               /* an input may have sent "verbosity 3" */
    return 0;
}

#ifdef FUZZ_REPLAY
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t
next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t
load(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : FUZZ_CORPUS;
    static uint8_t seeds[64][4096];
    static size_t seedlen[64];
    int nseeds = 0, files = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "fuzz_text_replay: cannot open corpus %s\n", dir);
        return 1;
    }
    struct dirent *e;
    static uint8_t buf[1 << 20];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t n = load(path, buf, sizeof(buf));
        LLVMFuzzerTestOneInput(buf, n);
        files++;
        if (nseeds < 64 && n <= sizeof(seeds[0])) {
            memcpy(seeds[nseeds], buf, n);
            seedlen[nseeds++] = n;
        }
    }
    closedir(d);
    /* Bounded random mutations of the corpus (fixed seed: reproducible). */
    int runs = 20000;
    for (int r = 0; r < runs && nseeds > 0; r++) {
        int s = (int)(next() % (uint64_t)nseeds);
        size_t n = seedlen[s];
        memcpy(buf, seeds[s], n);
        int muts = 1 + (int)(next() % 8);
        for (int m = 0; m < muts; m++) {
            switch (next() % 4) {
            case 0: if (n) buf[next() % n] = (uint8_t)next(); break;
            case 1: if (n < sizeof(seeds[0])) buf[n++] = (uint8_t)"\r\n 0123456789abcgstn"[next() % 20]; break;
            case 2: if (n) n = next() % n; break;
            case 3: {   /* splice in part of another seed */
                int o = (int)(next() % (uint64_t)nseeds);
                size_t k = seedlen[o] / 2;
                if (n + k <= sizeof(seeds[0])) { memcpy(buf + n, seeds[o], k); n += k; }
                break;
            }
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    item_teardown();
    printf("fuzz_text_replay: %d corpus files and %d mutations replayed\n", files, runs);
    return 0;
}
#endif
