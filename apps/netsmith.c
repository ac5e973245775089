/* The netsmith command line. */
#include <stdio.h>
#include <string.h>

#include "netsmith/netsmith.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: netsmith [--version] [--help]\n"
               "\n"
               "Build and train neural networks from small JSON blueprints.\n"
               "\n"
               "options:\n"
               "  --version   print the version and exit\n"
               "  --help      print this help and exit\n");
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("netsmith %s\n", ns_version());
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 1) {
        usage(stderr);
        return 2;
    }
    fprintf(stderr, "netsmith: unknown argument '%s' (try --help)\n", argv[1]);
    return 2;
}
