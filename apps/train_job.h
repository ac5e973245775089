/* A training job as the train command runs it: from flags, or from a run config file
 * (YAML or JSON) that fills the same fields. */
#ifndef NETSMITH_APPS_TRAIN_JOB_H
#define NETSMITH_APPS_TRAIN_JOB_H

#include "cli.h"

#define JOB_MAX_SEEDS 32

typedef struct train_job {
    const char *net;        /* spec or model file */
    char *net_json;         /* or a spec given inline / by a named blueprint (owned) */
    const char *data;
    const char *target, *task, *labels;
    double split[3];        /* train, val, test */
    uint64_t seeds[JOB_MAX_SEEDS];
    int n_seeds;
    ns_fit_options fit;
    const char *out;        /* model file */
    const char *run_dir;    /* settings and per-epoch metrics */
    bool json, quiet;
    int threads;            /* 0: --threads or its default */
    void *owned;            /* the parsed config, freed with the job */
} train_job;

void train_job_init(train_job *job);
void train_job_deinit(train_job *job);

/* Fills job from a run config file: keys net (a spec/model path or a named blueprint such as
 * "mlp"), net_config, data, target, task, split, seed / seeds, epochs, batch_size, optimizer,
 * optimizer_config, loss, normalize, scheduler, scheduler_config, early_stopping,
 * gradient_clip, checkpoint_dir, checkpoint_every, output, run_dir, threads. Flags given on the
 * command line win over the file. Prints a message naming the file and key and returns
 * CLI_USAGE on a bad config. */
int train_job_from_config(train_job *job, const char *path);

/* Parses "0.7,0.15,0.15" (or two parts) into split[3]. */
bool parse_split(const char *text, double split[3]);
/* Parses a schedule name into cfg with defaults for epochs. */
bool parse_schedule(const char *name, int epochs, ns_sched_config *cfg);

#endif
