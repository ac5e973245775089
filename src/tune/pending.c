/* placeholder until the sampler, pruner and importance files land (not committed) */
#include "tune/tune_internal.h"
ns_status ns__sample_random(const ns_study *s, int number, double *x) { (void)s; (void)number; (void)x; return NS_OK; }
ns_status ns__sample_grid(const ns_study *s, int number, double *x) { (void)s; (void)number; (void)x; return NS_OK; }
int ns__grid_size(const ns_study *s) { (void)s; return 1; }
ns_status ns__sample_tpe(const ns_study *s, int number, double *x) { (void)s; (void)number; for (int i = 0; i < s->def->space.n; i++) { const ns__param *p = &s->def->space.p[i]; x[i] = p->kind == NS__P_CHOICE ? (double)(number % p->n_choices) : (p->kind == NS__P_INT || p->kind == NS__P_INT_LOG) ? p->low : p->low + (p->high - p->low) * ((number * 37) % 100) / 100.0; if (!ns__param_active(&s->def->space, i, x)) x[i] = NAN; } return NS_OK; }
