/* Name tables of the vocabulary (netsmith/vocab.h): tasks, losses, optimizers and schedules,
 * which specs, configs, cards and the command line spell out. */
#include <string.h>

#include "core/core_internal.h"
#include "netsmith/vocab.h"

static const char *const task_names[] = {
    [NS_TASK_AUTO] = "auto",
    [NS_TASK_REGRESSION] = "regression",
    [NS_TASK_CLASSIFICATION] = "classification",
};

#define NS__NAME_ROW(name, str) str,
static const char *const loss_names[] = {NS_LOSS_KIND_MAP(NS__NAME_ROW)};
static const char *const optim_names[] = {NS_OPTIM_KIND_MAP(NS__NAME_ROW)};
static const char *const sched_names[] = {NS_SCHED_KIND_MAP(NS__NAME_ROW)};
#undef NS__NAME_ROW

static ns_status lookup(const char *const *names, int count, const char *name, int *out)
{
    for (int i = 0; name != NULL && i < count; i++) {
        if (strcmp(names[i], name) == 0) {
            *out = i;
            return NS_OK;
        }
    }
    return NS_ERR_NOTFOUND;
}

const char *ns_task_name(ns_task task)
{
    return (task >= 0 && task < (int)(sizeof task_names / sizeof task_names[0])) ? task_names[task]
                                                                               : NULL;
}

ns_status ns_task_parse(const char *name, ns_task *out)
{
    int k;
    ns_status st = lookup(task_names, (int)(sizeof task_names / sizeof task_names[0]), name, &k);
    if (st == NS_OK)
        *out = (ns_task)k;
    return st;
}

const char *ns_loss_kind_name(ns_loss_kind kind)
{
    return (kind >= 0 && kind < NS_LOSS_KIND_COUNT) ? loss_names[kind] : NULL;
}

ns_status ns_loss_kind_parse(const char *name, ns_loss_kind *out)
{
    static const struct {
        const char *alias;
        ns_loss_kind kind;
    } aliases[] = {
        {"l1", NS_LOSS_MAE},
        {"crossentropy", NS_LOSS_CROSS_ENTROPY},
        {"ce", NS_LOSS_CROSS_ENTROPY},
        {"binary_cross_entropy", NS_LOSS_BCE},
        {"bce_with_logits", NS_LOSS_BCE},
    };
    int k;
    if (lookup(loss_names, NS_LOSS_KIND_COUNT, name, &k) == NS_OK) {
        *out = (ns_loss_kind)k;
        return NS_OK;
    }
    for (size_t i = 0; name != NULL && i < sizeof aliases / sizeof aliases[0]; i++) {
        if (strcmp(aliases[i].alias, name) == 0) {
            *out = aliases[i].kind;
            return NS_OK;
        }
    }
    return NS_ERR_NOTFOUND;
}

const char *ns_optim_kind_name(ns_optim_kind kind)
{
    return (kind >= 0 && kind < NS_OPTIM_KIND_COUNT) ? optim_names[kind] : NULL;
}

ns_status ns_optim_kind_parse(const char *name, ns_optim_kind *out)
{
    int k;
    ns_status st = lookup(optim_names, NS_OPTIM_KIND_COUNT, name, &k);
    if (st == NS_OK)
        *out = (ns_optim_kind)k;
    return st;
}

const char *ns_sched_kind_name(ns_sched_kind kind)
{
    return (kind >= 0 && kind < NS_SCHED_KIND_COUNT) ? sched_names[kind] : NULL;
}

ns_status ns_sched_kind_parse(const char *name, ns_sched_kind *out)
{
    int k;
    ns_status st = lookup(sched_names, NS_SCHED_KIND_COUNT, name, &k);
    if (st == NS_OK)
        *out = (ns_sched_kind)k;
    return st;
}
