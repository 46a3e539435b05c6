/* option_gen.c -- print a document generated from the option table:
 * "example" (memcached.conf.example), "man" (doc/memcached.1) or "help". */
#include <stdio.h>
#include <string.h>

#include "option.h"

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "example") == 0)
        option_write_example(stdout);
    else if (argc == 2 && strcmp(argv[1], "man") == 0)
        option_write_man(stdout);
    else if (argc == 2 && strcmp(argv[1], "help") == 0)
        option_usage(stdout);
    else {
        fprintf(stderr, "usage: option-gen example|man|help\n");
        return 2;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
