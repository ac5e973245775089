/* An application's own card as a plugin: scale_features divides every feature by its largest
 * absolute value on the training rows (max-abs scaling, as scikit-learn's MaxAbsScaler), so
 * each lies in [-max, max], zeros stay zeros and sparse or sign-carrying features keep their
 * meaning. Built as a shared object (CMake: add_library(... MODULE ...)) and loaded with
 *     netsmith run pipeline.yaml --plugin scale_features.so
 *     netsmith card scale_features --plugin scale_features.so --in train_dataset=... --out DIR
 * It links nothing of netsmith: the ns_* calls are the host's. */
#include <math.h>
#include <stdlib.h>

#include "netsmith/pipeline.h"

static const ns_port_def scale_in[] = {
    {"train_dataset", NS_VALUE_DATASET, false,
     "the rows the scale is fitted on (not normalised yet)"},
    {"test_dataset", NS_VALUE_DATASET, true, "scaled with the training rows' fit"},
};
static const ns_port_def scale_out[] = {
    {"train_dataset", NS_VALUE_DATASET, false, "the training rows, scaled"},
    {"test_dataset", NS_VALUE_DATASET, true, "the other rows, scaled the same way"},
};
static const ns_setting_def scale_settings[] = {
    {"max", NS_SETTING_NUMBER, "1.0", NULL, "the largest absolute value a feature gets", 1e-6,
     1e6},
};

/* scale[j] = max / max_i |x[i, j]| over the rows of ds (1 for an all-zero feature). */
static ns_status fit(ns_ctx *ctx, const ns_dataset *ds, double max, ns_norm *norm)
{
    int f = ns_dataset_feature_count(ds);
    int64_t rows = ns_dataset_rows(ds);
    if (rows == 0)
        return ns_errorf(ctx, NS_ERR_INVALID, "scale_features: dataset '%s' has no rows",
                         ns_dataset_name(ds));
    float *x = ns_alloc(ctx, (size_t)f * sizeof *x);
    double *peak = ns_calloc(ctx, (size_t)f, sizeof *peak);
    norm->kind = NS_NORM_MINMAX;
    norm->features = f;
    norm->shift = ns_calloc(ctx, (size_t)f, sizeof(float));
    norm->scale = ns_alloc(ctx, (size_t)f * sizeof(float));
    ns_status st = NS_OK;
    if (x == NULL || peak == NULL || norm->shift == NULL || norm->scale == NULL)
        st = ns_errorf(ctx, NS_ERR_NOMEM, "scale_features: out of memory");
    for (int64_t r = 0; st == NS_OK && r < rows; r++) {
        ns_dataset_row(ds, r, x, NULL, NULL);
        for (int j = 0; j < f; j++) {
            double a = fabs((double)x[j]);
            if (!isfinite(a)) {
                st = ns_errorf(ctx, NS_ERR_NONFINITE,
                               "scale_features: dataset '%s' row %lld feature %d is not finite",
                               ns_dataset_name(ds), (long long)r, j);
                break;
            }
            peak[j] = a > peak[j] ? a : peak[j];
        }
    }
    for (int j = 0; st == NS_OK && j < f; j++)
        norm->scale[j] = peak[j] > 0.0 ? (float)(max / peak[j]) : 1.0f;
    ns_dealloc(ctx, x);
    ns_dealloc(ctx, peak);
    if (st != NS_OK)
        ns_norm_deinit(ctx, norm);
    return st;
}

static ns_status scale_run(ns_card_call *c)
{
    ns_ctx *ctx = ns_card_ctx(c);
    const ns_dataset *train = ns_value_dataset(ns_card_in(c, "train_dataset"));
    ns_value *test_v = ns_card_in(c, "test_dataset");
    ns_norm norm = {0};
    ns_status st = fit(ctx, train, ns_card_number(c, "max"), &norm);
    if (st != NS_OK)
        return st;
    ns_dataset *out = NULL;
    st = ns_data_normalize(train, &norm, &out);
    if (st == NS_OK)
        st = ns_card_out_dataset(c, "train_dataset", out);
    if (st == NS_OK && test_v != NULL) {
        st = ns_data_normalize(ns_value_dataset(test_v), &norm, &out);
        if (st == NS_OK)
            st = ns_card_out_dataset(c, "test_dataset", out);
    }
    ns_norm_deinit(ctx, &norm);
    return st;
}

static const ns_card_def scale_card = {
    .name = "scale_features",
    .doc = "Scale Features: divides each feature by its largest absolute value on the training "
           "rows (max-abs scaling; a plugin card)",
    .inputs = scale_in,
    .n_inputs = 2,
    .outputs = scale_out,
    .n_outputs = 2,
    .settings = scale_settings,
    .n_settings = 1,
    .run = scale_run,
};

NS_CARDS_PLUGIN_ABI_DEFINE;
ns_status netsmith_register_cards(ns_cards *cards) { return ns_card_register(cards, &scale_card); }
