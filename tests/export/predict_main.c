/* A driver for an exported model's C source, as a user's program would call it: reads samples
 * (whitespace-separated numbers, NS_INPUT_SIZE per sample) from standard input, predicts them
 * with one NS_PREDICT call and prints each sample's outputs as one line of %.9g numbers. Built
 * by tests/export/export_test.sh with -DNS_HEADER='"m.h"' -DNS_PREDICT=m_predict
 * -DNS_INPUT_SIZE=M_INPUT_SIZE -DNS_OUTPUT_SIZE=M_OUTPUT_SIZE
 * -DNS_OUTPUT_NAMES=m_output_names, with the same strict flags as the exported file. It also
 * checks the function's refusals of bad arguments; with --names it prints the output names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include NS_HEADER

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--names") == 0) { /* the output names, NUL-separated */
        for (int c = 0; c < NS_OUTPUT_SIZE; c++)
            fwrite(NS_OUTPUT_NAMES[c], 1, strlen(NS_OUTPUT_NAMES[c]) + 1, stdout);
        return 0;
    }
    size_t cap = 1024, n = 0;
    float *x = malloc(cap * sizeof *x), v;
    while (x != NULL && scanf("%f", &v) == 1) {
        if (n == cap) {
            float *bigger = realloc(x, 2 * cap * sizeof *x);
            if (bigger == NULL)
                break;
            x = bigger;
            cap *= 2;
        }
        x[n++] = v;
    }
    if (x == NULL || n % NS_INPUT_SIZE != 0) {
        fprintf(stderr, "predict_main: %lu numbers are not whole samples of %d\n", (unsigned long)n,
                NS_INPUT_SIZE);
        return 2;
    }
    int rows = (int)(n / NS_INPUT_SIZE);
    float *y = malloc((size_t)(rows > 0 ? rows : 1) * NS_OUTPUT_SIZE * sizeof *y);
    if (y == NULL)
        return 2;
    if (NS_PREDICT(x, -1, y) == 0 || NS_PREDICT(0, rows, y) == 0 || NS_PREDICT(x, rows, 0) == 0) {
        fprintf(stderr, "predict_main: a bad argument was not refused\n");
        return 3;
    }
    if (NS_PREDICT(x, 0, y) != 0 || NS_PREDICT(x, rows, y) != 0) {
        fprintf(stderr, "predict_main: the prediction failed\n");
        return 3;
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < NS_OUTPUT_SIZE; c++)
            printf("%.9g%c", (double)y[r * NS_OUTPUT_SIZE + c],
                   c + 1 < NS_OUTPUT_SIZE ? ' ' : '\n');
    free(x);
    free(y);
    return 0;
}
