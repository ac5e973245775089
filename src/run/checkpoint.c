/* Checkpoints: the model file plus optimizer moments, the trainer's state, best weights,
 * history and running epoch metrics, written atomically (ns_st_write: a temporary file of its
 * own, fsync, rename, directory fsync) as DIR/ckpt-<step>.safetensors; the newest two are
 * kept. Doubles travel in F64 tensors so they come back bit for bit; counts travel in a JSON
 * object. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_internal.h"
#include "run/run_internal.h"

#define META_CKPT "netsmith.checkpoint"
#define META_SETTINGS "netsmith.settings"
#define META_DATA "netsmith.data_hash"
#define KEEP 2

/* ---- history rows --------------------------------------------------------------------------- */

enum { MV_COLS = 11, H_COLS = 8 + 2 * MV_COLS };

static void put_values(double *row, const ns_metric_values *v)
{
    double cols[MV_COLS] = {(double)v->n, v->loss, v->accuracy, v->precision_macro,
                            v->recall_macro, v->f1_macro, v->mse, v->rmse, v->mae, v->r2,
                            v->is_classification ? 1.0 : 0.0};
    memcpy(row, cols, sizeof cols);
}

static void get_values(const double *row, ns_metric_values *v)
{
    v->n = (int64_t)row[0];
    v->loss = row[1];
    v->accuracy = row[2];
    v->precision_macro = row[3];
    v->recall_macro = row[4];
    v->f1_macro = row[5];
    v->mse = row[6];
    v->rmse = row[7];
    v->mae = row[8];
    v->r2 = row[9];
    v->is_classification = row[10] != 0.0;
}

static void put_report(double *row, const ns_epoch_report *r)
{
    row[0] = r->epoch;
    row[1] = r->epochs;
    row[2] = (double)r->step;
    row[3] = r->lr;
    row[4] = r->seconds;
    row[5] = r->samples_per_second;
    row[6] = r->has_val;
    row[7] = r->improved;
    put_values(row + 8, &r->train);
    put_values(row + 8 + MV_COLS, &r->val);
}

static void get_report(const double *row, ns_epoch_report *r)
{
    memset(r, 0, sizeof *r);
    r->epoch = (int)row[0];
    r->epochs = (int)row[1];
    r->step = (int64_t)row[2];
    r->lr = row[3];
    r->seconds = row[4];
    r->samples_per_second = row[5];
    r->has_val = row[6] != 0.0;
    r->improved = row[7] != 0.0;
    get_values(row + 8, &r->train);
    get_values(row + 8 + MV_COLS, &r->val);
}

/* ---- listing ------------------------------------------------------------------------------------ */

static int cmp_desc(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* A temporary file an atomic write of a checkpoint left behind (".ckpt-*.tmp", see
 * ns_file_writer) when its process was killed. */
static bool is_stale_temporary(const char *name)
{
    size_t len = strlen(name);
    return strncmp(name, ".ckpt-", 6) == 0 && len > 10 && strcmp(name + len - 4, ".tmp") == 0;
}

/* Removes what killed writers left in dir; only while this process holds the directory's
 * lock (ns_fit), so no temporary file there is another writer's. */
static void remove_stale_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_stale_temporary(e->d_name))
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
            unlink(path);
    }
    closedir(d);
}

/* Checkpoint file names in dir, newest first (names are zero-padded step counts). */
static ns_status list_checkpoints(ns_ctx *ctx, const char *dir, char ***names, int *count)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? NS_OK
                               : ns_errorf(ctx, NS_ERR_IO, "%s: cannot list checkpoints: %s",
                                           dir, strerror(errno));
    int cap = 0;
    ns_status st = NS_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "ckpt-", 5) != 0 || len < 17 ||
            strcmp(e->d_name + len - 12, ".safetensors") != 0)
            continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 8;
            char **grown = ns_realloc(ctx, *names, (size_t)cap * sizeof *grown);
            if (grown == NULL) {
                st = NS_ERR_NOMEM;
                break;
            }
            *names = grown;
        }
        if (((*names)[*count] = ns_strdup(ctx, e->d_name)) == NULL) {
            st = NS_ERR_NOMEM;
            break;
        }
        (*count)++;
    }
    closedir(d);
    if (*count > 1)
        qsort(*names, (size_t)*count, sizeof **names, cmp_desc);
    return st;
}

static void free_list(ns_ctx *ctx, char **names, int n)
{
    for (int i = 0; i < n; i++)
        ns_dealloc(ctx, names[i]);
    ns_dealloc(ctx, names);
}

/* ---- save ----------------------------------------------------------------------------------------- */

ns_status ns__checkpoint_save(ns_trainer *t, const ns_model_info *info,
                              const ns__run_identity *id, const char *dir, char *saved,
                              size_t saved_cap)
{
    ns_model *m = ns_trainer_model(t);
    ns_optim *opt = ns_trainer_optim(t);
    ns_ctx *ctx = ns_model_ctx(m);
    const ns_trainer_state *s = ns_trainer_get_state(t);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return ns_errorf(ctx, NS_ERR_IO, "%s: cannot create the checkpoint directory: %s", dir,
                         strerror(errno));
    size_t np = ns_model_param_count(m), nb = ns_model_buffer_count(m);
    int nmom = ns_optim_moment_count(opt);
    int nh = ns_trainer_history_count(t);
    size_t elen = ns_trainer_epoch_state_len(t);
    ns_st_tensor ts[16];
    char names[8][48];
    int n = 0;
    double *hist = ns_calloc(ctx, (size_t)(nh > 0 ? nh : 1) * H_COLS, sizeof(double));
    double *epoch = ns_calloc(ctx, elen ? elen : 1, sizeof(double));
    char *ckpt_json = NULL, *owned[3] = {NULL, NULL, NULL};
    ns_status st = hist && epoch ? NS_OK : NS_ERR_NOMEM;
    if (st != NS_OK)
        goto done;
    NS_ASSERT(nmom <= 8);
    for (int k = 0; k < nmom; k++) {
        snprintf(names[k], sizeof names[k], "optim.%s", ns_optim_moment_name(opt, k));
        ts[n++] = (ns_st_tensor){.name = names[k], .dtype = NS_DTYPE_F32, .ndim = 1,
                                 .shape = {(int64_t)np},
                                 .data = ns_optim_moments(opt) + (size_t)k * np,
                                 .nbytes = np * sizeof(float)};
    }
    if (ns_trainer_best_params(t) != NULL) {
        ts[n++] = (ns_st_tensor){.name = "trainer.best_params", .dtype = NS_DTYPE_F32, .ndim = 1,
                                 .shape = {(int64_t)np}, .data = ns_trainer_best_params(t),
                                 .nbytes = np * sizeof(float)};
        ts[n++] = (ns_st_tensor){.name = "trainer.best_buffers", .dtype = NS_DTYPE_F32, .ndim = 1,
                                 .shape = {(int64_t)nb}, .data = ns_trainer_best_buffers(t),
                                 .nbytes = nb * sizeof(float)};
    }
    for (int i = 0; i < nh; i++)
        put_report(hist + (size_t)i * H_COLS, ns_trainer_history(t, i));
    ts[n++] = (ns_st_tensor){.name = "trainer.history", .dtype = NS_DTYPE_F64, .ndim = 2,
                             .shape = {nh, H_COLS}, .data = hist,
                             .nbytes = (size_t)nh * H_COLS * sizeof(double)};
    ns_trainer_epoch_state(t, epoch);
    ts[n++] = (ns_st_tensor){.name = "trainer.epoch_metrics", .dtype = NS_DTYPE_F64, .ndim = 1,
                             .shape = {(int64_t)elen}, .data = epoch,
                             .nbytes = elen * sizeof(double)};
    double reals[5] = {s->sched.base_lr, s->sched.lr, s->sched.best, s->best, ns_optim_lr(opt)};
    ts[n++] = (ns_st_tensor){.name = "trainer.reals", .dtype = NS_DTYPE_F64, .ndim = 1,
                             .shape = {5}, .data = reals, .nbytes = sizeof reals};

    json_t *j = json_pack("{sI sI sI sI sI sI si si sI sI sb si}", "epoch", (json_int_t)s->epoch,
                          "batch", (json_int_t)s->batch, "step", (json_int_t)s->step,
                          "optim_step", (json_int_t)ns_optim_step_count(opt), "forward_count",
                          (json_int_t)ns_model_forward_count(m), "sched_last_step",
                          (json_int_t)s->sched.last_step, "sched_bad_steps", s->sched.bad_steps,
                          "sched_cooldown_left", s->sched.cooldown_left, "best_epoch",
                          (json_int_t)s->best_epoch, "bad_epochs", (json_int_t)s->bad_epochs,
                          "stopped", s->stopped, "stop_reason", s->stop_reason);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    ckpt_json = text ? ns_strdup(ctx, text) : NULL;
    free(text);
    if (ckpt_json == NULL) {
        st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing a checkpoint");
        goto done;
    }
    char data_hash[64];
    snprintf(data_hash, sizeof data_hash, "%016" PRIx64 ":%016" PRIx64, id->train_hash,
             id->val_hash);
    ns_st_meta meta[8];
    int nm = 0;
    st = ns__model_info_meta(ctx, info, meta, &nm, owned);
    if (st != NS_OK)
        goto done;
    meta[nm++] = (ns_st_meta){META_CKPT, ckpt_json};
    meta[nm++] = (ns_st_meta){META_SETTINGS, id->settings_json};
    meta[nm++] = (ns_st_meta){META_DATA, data_hash};

    char path[4096];
    snprintf(path, sizeof path, "%s/ckpt-%012lld.safetensors", dir, (long long)s->step);
    st = ns__model_write(m, path, ts, n, meta, nm);
    if (st != NS_OK)
        goto done;
    if (saved != NULL)
        snprintf(saved, saved_cap, "%s", path);
    /* Keep the newest KEEP, and no temporary file a killed run left. */
    remove_stale_temporaries(dir);
    char **list = NULL;
    int count = 0;
    /* the checkpoint is written; a failure to list the old ones is still this call's */
    st = list_checkpoints(ctx, dir, &list, &count);
    for (int i = KEEP; st == NS_OK && i < count; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, list[i]);
        unlink(path);
    }
    free_list(ctx, list, count);
done:
    for (int i = 0; i < 3; i++)
        ns_dealloc(ctx, owned[i]);
    ns_dealloc(ctx, ckpt_json);
    ns_dealloc(ctx, hist);
    ns_dealloc(ctx, epoch);
    return st;
}

/* ---- find and verify --------------------------------------------------------------------------- */

/* Says which setting differs between the checkpoint's settings and this run's. */
static ns_status compare_settings(ns_ctx *ctx, const char *path, const char *then,
                                  const char *now)
{
    json_error_t e;
    json_t *a = json_loads(then, 0, &e), *b = json_loads(now, 0, &e);
    ns_status st = NS_OK;
    if (a == NULL || b == NULL || !json_is_object(a) || !json_is_object(b)) {
        st = ns_errorf(ctx, NS_ERR_FORMAT, "%s: the checkpoint's settings are unreadable", path);
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(b, key, v)
        {
            json_t *old = json_object_get(a, key);
            if (old != NULL && json_equal(old, v))
                continue;
            char *was = old ? json_dumps(old, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            char *is = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            st = ns_errorf(ctx, NS_ERR_STATE,
                           "cannot resume from %s: the training settings changed: %s was %s, "
                           "now %s; use the same settings, or another checkpoint directory to "
                           "start over",
                           path, key, was ? was : "(absent)", is ? is : "?");
            free(was);
            free(is);
            break;
        }
    }
    json_decref(a);
    json_decref(b);
    return st;
}

static ns_status verify(ns_ctx *ctx, const ns_st_file *f, const char *path,
                        const ns__run_identity *id)
{
    const char *spec = ns_st_meta_find(f, "netsmith.spec");
    const char *settings = ns_st_meta_find(f, META_SETTINGS);
    const char *data = ns_st_meta_find(f, META_DATA);
    if (spec == NULL || settings == NULL || data == NULL || ns_st_meta_find(f, META_CKPT) == NULL)
        return ns_errorf(ctx, NS_ERR_FORMAT, "%s: not a netsmith checkpoint", path);
    if (strcmp(spec, id->spec_json) != 0)
        return ns_errorf(ctx, NS_ERR_STATE,
                         "cannot resume from %s: the model spec changed; use the spec the run "
                         "started with, or another checkpoint directory to start over",
                         path);
    ns_status st = compare_settings(ctx, path, settings, id->settings_json);
    if (st != NS_OK)
        return st;
    char now[64];
    snprintf(now, sizeof now, "%016" PRIx64 ":%016" PRIx64, id->train_hash, id->val_hash);
    if (strncmp(data, now, 16) != 0)
        return ns_errorf(ctx, NS_ERR_STATE,
                         "cannot resume from %s: the training data changed (rows, values, order "
                         "or split differ); use the same data, split and seed",
                         path);
    if (strcmp(data, now) != 0)
        return ns_errorf(ctx, NS_ERR_STATE,
                         "cannot resume from %s: the validation data changed; use the same data, "
                         "split and seed",
                         path);
    return NS_OK;
}

ns_status ns__checkpoint_find(ns_ctx *ctx, const char *dir, const ns__run_identity *id,
                              int max_batch, ns_model **model, ns_st_file **file, bool *found,
                              char *path, size_t path_cap)
{
    *model = NULL;
    *file = NULL;
    *found = false;
    char **list = NULL;
    int count = 0;
    ns_status st = list_checkpoints(ctx, dir, &list, &count);
    char why[NS__ERRMSG_CAP] = "";
    for (int i = 0; st == NS_OK && i < count && !*found; i++) {
        snprintf(path, path_cap, "%s/%s", dir, list[i]);
        ns_st_file *f = NULL;
        ns_status rs = ns_st_open(ctx, path, &f);
        if (rs == NS_ERR_NOMEM) {
            st = rs;
        } else if (rs != NS_OK) {
            /* Damaged (e.g. the machine died mid-write of a non-atomic copy): try an older one. */
            snprintf(why, sizeof why, "%s", ns_errmsg(ctx));
        } else if ((st = verify(ctx, f, path, id)) == NS_OK &&
                   (st = ns__model_from_file(ctx, f, path, max_batch, model)) == NS_OK) {
            *file = f;
            *found = true;
            f = NULL;
        }
        ns_st_close(f);
    }
    if (st == NS_OK && !*found && count > 0)
        st = ns_errorf(ctx, NS_ERR_FORMAT, "%s: no checkpoint could be read (%s)", dir, why);
    free_list(ctx, list, count);
    return st;
}

/* ---- restore --------------------------------------------------------------------------------------- */

static const ns_st_tensor *need(ns_ctx *ctx, const ns_st_file *f, const char *path,
                                const char *name, ns_dtype dtype, size_t count, ns_status *st)
{
    const ns_st_tensor *t = ns_st_find(f, name);
    if (*st != NS_OK)
        return NULL;
    if (t == NULL || t->dtype != dtype || t->nbytes != count * ns_dtype_size(dtype)) {
        *st = ns_errorf(ctx, NS_ERR_FORMAT,
                        "%s: checkpoint tensor '%s' is missing or has the wrong size (the "
                        "checkpoint was made with other optimizer or early-stopping settings)",
                        path, name);
        return NULL;
    }
    return t;
}

ns_status ns__checkpoint_restore(ns_trainer *t, const ns_st_file *f, const char *path)
{
    ns_model *m = ns_trainer_model(t);
    ns_optim *opt = ns_trainer_optim(t);
    ns_ctx *ctx = ns_model_ctx(m);
    ns_trainer_state *s = ns_trainer_get_state(t);
    size_t np = ns_model_param_count(m), nb = ns_model_buffer_count(m);
    ns_status st = NS_OK;
    for (int k = 0; k < ns_optim_moment_count(opt); k++) {
        char name[48];
        snprintf(name, sizeof name, "optim.%s", ns_optim_moment_name(opt, k));
        const ns_st_tensor *mt = need(ctx, f, path, name, NS_DTYPE_F32, np, &st);
        if (mt)
            memcpy(ns_optim_moments(opt) + (size_t)k * np, mt->data, mt->nbytes);
    }
    if (ns_trainer_best_params(t) != NULL) {
        const ns_st_tensor *bp = need(ctx, f, path, "trainer.best_params", NS_DTYPE_F32, np, &st);
        const ns_st_tensor *bb = need(ctx, f, path, "trainer.best_buffers", NS_DTYPE_F32, nb, &st);
        if (bp && bb) {
            memcpy(ns_trainer_best_params(t), bp->data, bp->nbytes);
            memcpy(ns_trainer_best_buffers(t), bb->data, bb->nbytes);
        }
    }
    const ns_st_tensor *reals = need(ctx, f, path, "trainer.reals", NS_DTYPE_F64, 5, &st);
    const ns_st_tensor *hist = ns_st_find(f, "trainer.history");
    const ns_st_tensor *ep = ns_st_find(f, "trainer.epoch_metrics");
    if (st != NS_OK)
        return st;
    if (hist == NULL || hist->dtype != NS_DTYPE_F64 || hist->ndim != 2 ||
        hist->shape[1] != H_COLS || ep == NULL || ep->dtype != NS_DTYPE_F64)
        return ns_errorf(ctx, NS_ERR_FORMAT, "%s: checkpoint history is missing or malformed",
                         path);
    json_error_t e;
    json_t *j = json_loads(ns_st_meta_find(f, META_CKPT), 0, &e);
    json_int_t epoch = -1, batch = -1, step = -1, ostep = -1, fwd = -1, slast = -1, best_epoch = -1,
               bad = -1;
    int sbad = -1, scool = -1, stop_reason = 0, stopped = 0;
    if (j == NULL ||
        json_unpack(j, "{sI sI sI sI sI sI si si sI sI sb si}", "epoch", &epoch, "batch", &batch,
                    "step", &step, "optim_step", &ostep, "forward_count", &fwd, "sched_last_step",
                    &slast, "sched_bad_steps", &sbad, "sched_cooldown_left", &scool, "best_epoch",
                    &best_epoch, "bad_epochs", &bad, "stopped", &stopped, "stop_reason",
                    &stop_reason) != 0 ||
        epoch < 0 || batch < 0 || step < 0 || ostep < 0 || fwd < 0) {
        json_decref(j);
        return ns_errorf(ctx, NS_ERR_FORMAT, "%s: __metadata__." META_CKPT " is malformed", path);
    }
    json_decref(j);
    double r[5];
    memcpy(r, reals->data, sizeof r);
    int nh = (int)hist->shape[0];
    ns_epoch_report *reports = ns_calloc(ctx, (size_t)(nh > 0 ? nh : 1), sizeof *reports);
    if (reports == NULL)
        return NS_ERR_NOMEM;
    const double *rows = hist->data;
    for (int i = 0; i < nh; i++) {
        double row[H_COLS];
        memcpy(row, rows + (size_t)i * H_COLS, sizeof row); /* data may be unaligned */
        get_report(row, &reports[i]);
    }
    st = ns_trainer_set_history(t, reports, nh);
    ns_dealloc(ctx, reports);
    if (st == NS_OK && batch > 0) {
        size_t n = ep->nbytes / sizeof(double);
        double *vals = ns_alloc(ctx, (n ? n : 1) * sizeof(double));
        if (vals == NULL)
            return NS_ERR_NOMEM;
        memcpy(vals, ep->data, ep->nbytes);
        st = ns_trainer_set_epoch_state(t, vals, n);
        ns_dealloc(ctx, vals);
    }
    if (st != NS_OK)
        return st;
    s->epoch = epoch;
    s->batch = batch;
    s->step = step;
    s->sched.base_lr = r[0];
    s->sched.lr = r[1];
    s->sched.best = r[2];
    s->sched.last_step = slast;
    s->sched.bad_steps = sbad;
    s->sched.cooldown_left = scool;
    s->best = r[3];
    s->best_epoch = best_epoch;
    s->bad_epochs = bad;
    s->stopped = stopped;
    s->stop_reason = stop_reason;
    ns_optim_set_lr(opt, r[4]);
    ns_optim_set_step_count(opt, ostep);
    ns_model_set_forward_count(m, (uint64_t)fwd);
    return NS_OK;
}
