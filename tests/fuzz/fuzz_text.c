/*
 * fuzz_text.c -- feed arbitrary bytes through the connection's byte loop
 * (feed_run(), the very function net/conn.c runs: line splitting, value
 * copies, swallows, paused multigets) against a real storage engine, the
 * input split at byte boundaries chosen by the input itself, and check
 * that the replies are well framed.
 *
 * Built two ways:
 *   - with clang -fsanitize=fuzzer (tests/fuzz/build.sh): a libFuzzer target;
 *     `make test` runs it for a few seconds when clang is there;
 *   - by `make check` as `fuzz_text_replay`: replays every file of
 *     tests/fuzz/corpus/ and then a bounded number of seeded random inputs
 *     (mutations of the corpus), so crashes found once stay fixed.
 * Assertions: no crash, no sanitizer report, and every reply is framed
 * (fuzz_feed() in fuzz_common.c says what that means).
 */
#include <stdint.h>
#include <stddef.h>

#include "fuzz_common.h"

/* Input layout: byte 0 picks -R (1..16), byte 1 the chunk-size seed; the
 * rest is the stream, delivered in chunks of 1..64 bytes (or all at once
 * when the seed is 0). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_setup();
    if (size < 2)
        return 0;
    fuzz_feed(data + 2, size - 2, 1 + data[0] % 16, data[1], NULL, NULL);
    return 0;
}

#ifdef FUZZ_REPLAY
int
main(int argc, char **argv)
{
    return fuzz_replay_main(argc, argv, "fuzz_text_replay", FUZZ_CORPUS,
                            "\r\n 0123456789abcgstn", 20000);
}
#endif
