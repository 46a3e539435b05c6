/* main.c -- placeholder until the daemon lands. */
#include <stdio.h>
int main(void) { fprintf(stderr, "not yet\n"); return 1; }
