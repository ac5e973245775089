/* netsmith datasets: lists the built-in datasets (name, size, task, target, official test
 * split) and whether each can be loaded on this machine. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] = "[--json]";
static const char about[] =
    "Lists the built-in datasets that --data accepts by name. The small tabular sets are\n"
    "compiled into netsmith; fashion-mnist is read from Debian's dataset-fashion-mnist\n"
    "package (apt-get install dataset-fashion-mnist) and is available only when it is\n"
    "installed.";

/* A file of Debian's dataset-fashion-mnist package; the library reads the same place. */
#define FASHION_FILE "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

static const char *task_name(ns_task task)
{
    return task == NS_TASK_CLASSIFICATION ? "classification"
           : task == NS_TASK_REGRESSION   ? "regression"
                                          : "auto";
}

/* Whether the dataset can be loaded here: the embedded ones always, fashion-mnist when its
 * package is installed. */
static bool available(const ns_builtin_info *b)
{
    if (strcmp(b->name, "fashion-mnist") == 0)
        return access(FASHION_FILE, R_OK) == 0;
    return true;
}

static int print_json(void)
{
    json_t *list = json_array();
    for (int i = 0; list != NULL && i < ns_data_builtin_count(); i++) {
        const ns_builtin_info *b = ns_data_builtin(i);
        json_t *o =
            json_pack("{ss ss sI si ss si ss sb sb}", "name", b->name, "description",
                      b->description, "rows", (json_int_t)b->rows, "features", b->features, "task",
                      task_name(b->task), "classes", b->classes, "target", b->target, "test_split",
                      (int)b->has_test_split, "available", (int)available(b));
        if (o == NULL || json_array_append_new(list, o) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    if (text == NULL) {
        cli_error("datasets", "out of memory");
        return CLI_ERROR;
    }
    printf("%s\n", text);
    free(text);
    return CLI_OK;
}

static void print_table(void)
{
    printf("%-16s %7s %8s  %-14s %7s  %-10s %-10s %s\n", "name", "rows", "features", "task",
           "classes", "target", "test split", "available");
    bool missing = false;
    for (int i = 0; i < ns_data_builtin_count(); i++) {
        const ns_builtin_info *b = ns_data_builtin(i);
        bool ok = available(b);
        missing = missing || !ok;
        char classes[16] = "-";
        if (b->task == NS_TASK_CLASSIFICATION)
            snprintf(classes, sizeof classes, "%d", b->classes);
        printf("%-16s %7lld %8d  %-14s %7s  %-10s %-10s %s\n", b->name, (long long)b->rows,
               b->features, task_name(b->task), classes, b->target,
               b->has_test_split ? "official" : "-", ok ? "yes" : "no");
    }
    if (missing)
        printf("\nfashion-mnist needs Debian's dataset-fashion-mnist package: "
               "apt-get install dataset-fashion-mnist\n");
}

int cmd_datasets(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--json", NULL, NULL, "print a JSON list of objects instead of a table", NULL},
    };
    cli_args a = {"datasets", flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    if (a.n_pos > 0) {
        cli_error("datasets", "takes no arguments, got '%s'; see 'netsmith datasets --help'",
                  a.pos[0]);
        return CLI_USAGE;
    }
    if (cli_has(&a, "--json"))
        return print_json();
    print_table();
    return CLI_OK;
}
