/* What the store's study files share (never installed): a trial as its row and job tell it,
 * and queuing one. */
#ifndef NETSMITH_STORE_STUDIES_H
#define NETSMITH_STORE_STUDIES_H

#include "netsmith/tune.h"
#include "store/store_private.h"

/* The most epochs a trial's step values are read for. */
#define NS__TRIAL_STEPS_MAX 4096

typedef struct ns__trial_row {
    int number;
    const char *params; /* borrowed from the result */
    ns_trial_state state;
    double value;       /* NAN unless complete */
    int64_t job;
    int attempts;
    int64_t epoch;      /* a paused or pruned trial's epoch */
    int n_steps;
    double steps[NS__TRIAL_STEPS_MAX];
} ns__trial_row;

/* The id of study name (NS_ERR_NOTFOUND with a did-you-mean). */
ns_status ns__study_id(ns_store *s, const char *name, int64_t *id);
/* Replaces the stored definition of def's study (a resume with another budget). */
ns_status ns__study_set_def(ns_store *s, const ns_study_def *def);
/* The trials of a study: rows of number, params, the row's state, job id, job state, result,
 * history, attempts, by number. */
ns_status ns__study_rows(ns_store *s, int64_t study_id, ns__sql_result **rows);
/* Row i of ns__study_rows as a trial of def. */
ns_status ns__trial_from_row(const ns_study_def *def, const ns__sql_result *r, int i,
                             ns__trial_row *out);
/* Asks study (loaded from the store, so it holds every trial) for its next trial and queues
 * it: the trial's row and its job in one transaction. *number, *job; *params (may be NULL) the
 * settings (ns_dealloc on the store's context). */
ns_status ns__study_submit(ns_store *s, ns_study *study, int *number, int64_t *job,
                           char **params);

#endif
