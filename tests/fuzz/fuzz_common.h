/*
 * fuzz_common.h -- what the fuzz targets (fuzz_text.c, fuzz_meta.c,
 * fuzz_binary.c, fuzz_coll.c) share: the storage engine they run against,
 * the client-side reader that checks every reply is framed, the connection
 * loop around feed_run(), and the corpus replay that `make check` runs
 * (built with -DFUZZ_REPLAY).
 *
 * A target defines LLVMFuzzerTestOneInput() and, for the replay build,
 * calls fuzz_replay_main() from its main().
 */
#ifndef MC_FUZZ_COMMON_H
#define MC_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Report a failed check (printf format) and abort: libFuzzer saves the
 * input as a crash. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A structure-aware target's input, read as a sequence of choices. */
struct src {
    const uint8_t *p;
    size_t         n;
};

/* A choice in 0..bound-1 (bound <= 256); 0 once the input is used up. */
static inline unsigned
pick(struct src *s, unsigned bound)
{
    if (s->n == 0)
        return 0;
    s->n--;
    return *s->p++ % bound;
}

/* A choice out of a list of strings. */
static inline const char *
pick_str(struct src *s, const char *const *list, size_t n)
{
    return list[pick(s, (unsigned)n)];
}
#define PICK(s, list) pick_str((s), (list), sizeof(list) / sizeof((list)[0]))

/* Storage engine (8 MB, 64 KB items, no background threads) and
 * proto_env; idempotent. */
void fuzz_setup(void);

/* A growing byte buffer. */
struct fuzz_buf {
    char  *p;
    size_t len, cap;
};
void fuzz_buf_add(struct fuzz_buf *b, const void *p, size_t n);
void fuzz_buf_str(struct fuzz_buf *b, const char *s);
void fuzz_buf_free(struct fuzz_buf *b);

/* Called for every complete reply line (data blocks excluded): its bytes
 * with the line end; long is true when it passed the reader's buffer and
 * line holds only its start.  On a binary connection: for every reply
 * packet's 24-byte header (n == 24), before its body. */
typedef void (*fuzz_line_fn)(const char *line, size_t n, bool long_line, void *arg);

/* One client connection: the stream is delivered in chunks (split == 0:
 * all at once; otherwise 1..64 bytes, sizes drawn from split), run with
 * feed_run() and at most max_reqs requests a turn until every complete
 * request ran, and the replies are read and checked for framing as they
 * arrive: lines ending in "\r\n" (metadump's "key=" lines in "\n"), a
 * "VALUE <key> <flags> <n>" or "VA <n> ..." line followed by exactly n
 * bytes and "\r\n", and nothing cut short at the end.  A connection
 * whose first byte made it binary (feed.c) gets packets instead: a 24-byte
 * header with the response magic, then as many bytes as it says. */
void fuzz_feed(const uint8_t *stream, size_t size, int max_reqs, uint32_t split,
               fuzz_line_fn on_line, void *arg);
/* A generated stream: written to stderr when print (what a crash file
 * means), then run by fuzz_feed() with -R and the split seed taken from
 * the input's first two bytes. */
void fuzz_run_stream(const struct fuzz_buf *stream, const uint8_t *data, bool print,
                     fuzz_line_fn on_line, void *arg);
/* ARCUS collection replies (fuzz_coll.c): a VALUE line heads element
 * lines, each its own "\r\n" line, not a data block. */
extern bool fuzz_value_lines;

/* The replay program `make check` runs: every file of the corpus
 * directory (argv[1], else corpus), then `runs` seeded random mutations
 * of them (fixed seed: reproducible); bytes appended by a mutation are
 * drawn from alphabet (NULL: any byte but NUL). */
int fuzz_replay_main(int argc, char **argv, const char *name, const char *corpus,
                     const char *alphabet, int runs);

#endif
