/* The search space: its settings, their ranges and conditions. */
#include "tune/tune_internal.h"

bool ns__param_active(const ns__space *space, int i, const double *x)
{
    for (int depth = 0; i >= 0 && depth <= space->n; depth++) {
        const ns__param *p = &space->p[i];
        if (p->when_param < 0)
            return true;
        double parent = x[p->when_param];
        if (isnan(parent))
            return false;
        bool chosen = false;
        for (int k = 0; k < p->n_when && !chosen; k++)
            chosen = (int)parent == p->when_idx[k];
        if (!chosen)
            return false;
        i = p->when_param;
    }
    return true;
}
