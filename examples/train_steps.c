/* Step-by-step training of the seed blueprint (13 -> 128 -> 64 -> 32 -> 1, relu, dropout 0.2)
 * on Boston housing, one library call per card: Model Define, Build Model, Initialize
 * Optimizer, then per batch Zero Gradients, Forward Pass, Calculate Loss, Backward Pass and
 * Optimizer Step; finally Evaluate (test RMSE) and Save.
 *
 *   train_steps [--data boston_housing.csv] [--spec seed.json] [--epochs N] [--seed S]
 *               [-o model.safetensors] [--max-rmse X]
 *
 * With --max-rmse it exits 1 when the test RMSE is worse, so CI can run it as a check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netsmith/netsmith.h"

#ifndef NS_EXAMPLE_DATA
#define NS_EXAMPLE_DATA "data/boston_housing.csv"
#endif

static const char seed_spec[] = "{\"model_type\": \"deep_neural_network\","
                                " \"hidden_layers\": [128, 64, 32], \"activation\": \"relu\","
                                " \"dropout\": 0.2, \"learning_rate\": 0.001, \"epochs\": 50,"
                                " \"batch_size\": 32, \"output_size\": 1}";

/* A numeric CSV with one header row, target in the last column. (The Data Load card
 * replaces this reader; it is enough for a fixed, known file.) */
static int load_csv(const char *path, float **x, float **y, int *rows, int *features)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "train_steps: cannot open %s\n", path);
        return -1;
    }
    char line[4096];
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return -1;
    }
    int cols = 1;
    for (char *p = line; *p; p++)
        cols += *p == ',';
    int cap = 1024, n = 0;
    float *data = malloc((size_t)cap * (size_t)cols * sizeof *data);
    while (data && fgets(line, sizeof line, f)) {
        if (n == cap) {
            cap *= 2;
            float *grown = realloc(data, (size_t)cap * (size_t)cols * sizeof *data);
            if (!grown) {
                free(data);
                data = NULL;
                break;
            }
            data = grown;
        }
        char *p = line;
        for (int c = 0; c < cols; c++) {
            char *end;
            data[(size_t)n * (size_t)cols + (size_t)c] = strtof(p, &end);
            if (end == p) {
                fprintf(stderr, "train_steps: %s:%d: bad number\n", path, n + 2);
                free(data);
                fclose(f);
                return -1;
            }
            p = end + (*end == ',');
        }
        n++;
    }
    fclose(f);
    if (!data)
        return -1;
    *features = cols - 1;
    *rows = n;
    *x = malloc((size_t)n * (size_t)(cols - 1) * sizeof **x);
    *y = malloc((size_t)n * sizeof **y);
    for (int i = 0; i < n; i++) {
        memcpy(*x + (size_t)i * (size_t)(cols - 1), data + (size_t)i * (size_t)cols,
               (size_t)(cols - 1) * sizeof(float));
        (*y)[i] = data[(size_t)i * (size_t)cols + (size_t)(cols - 1)];
    }
    free(data);
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fail(ns_ctx *ctx, const char *what)
{
    fprintf(stderr, "train_steps: %s: %s\n", what, ns_errmsg(ctx));
    return 1;
}

int main(int argc, char **argv)
{
    const char *data_path = NS_EXAMPLE_DATA, *spec_path = NULL, *out_path = NULL;
    int epochs = -1;
    uint64_t seed = 42;
    double max_rmse = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--data") == 0 && v)
            data_path = argv[++i];
        else if (strcmp(a, "--spec") == 0 && v)
            spec_path = argv[++i];
        else if (strcmp(a, "--epochs") == 0 && v)
            epochs = atoi(argv[++i]);
        else if (strcmp(a, "--seed") == 0 && v)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(a, "-o") == 0 && v)
            out_path = argv[++i];
        else if (strcmp(a, "--max-rmse") == 0 && v)
            max_rmse = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: train_steps [--data CSV] [--spec JSON] [--epochs N] "
                            "[--seed S] [-o model.safetensors] [--max-rmse X]\n");
            return 2;
        }
    }

    float *x = NULL, *y = NULL;
    int rows = 0, nf = 0;
    if (load_csv(data_path, &x, &y, &rows, &nf) != 0)
        return 1;

    /* Data Split (80/20, seeded) and Normalize (standard, fitted on train). */
    ns_rng rng;
    ns_rng_init(&rng, seed, NS_RNG_SPLIT, 0);
    int *order = malloc((size_t)rows * sizeof *order);
    for (int i = 0; i < rows; i++)
        order[i] = i;
    for (int i = rows - 1; i > 0; i--) {
        int j = (int)ns_rng_below(&rng, (uint32_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int n_train = rows * 8 / 10, n_test = rows - n_train;
    float *xs = malloc((size_t)rows * (size_t)nf * sizeof *xs);
    float *ys = malloc((size_t)rows * sizeof *ys);
    for (int i = 0; i < rows; i++) {
        memcpy(xs + (size_t)i * (size_t)nf, x + (size_t)order[i] * (size_t)nf,
               (size_t)nf * sizeof(float));
        ys[i] = y[order[i]];
    }
    for (int j = 0; j < nf; j++) {
        double mean = 0, var = 0;
        for (int i = 0; i < n_train; i++)
            mean += (double)xs[(size_t)i * (size_t)nf + (size_t)j];
        mean /= n_train;
        for (int i = 0; i < n_train; i++) {
            double d = (double)xs[(size_t)i * (size_t)nf + (size_t)j] - mean;
            var += d * d;
        }
        double sd = sqrt(var / n_train);
        if (sd == 0)
            sd = 1;
        for (int i = 0; i < rows; i++) {
            float *v = &xs[(size_t)i * (size_t)nf + (size_t)j];
            *v = (float)(((double)*v - mean) / sd);
        }
    }

    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK)
        return 1;
    /* Model Define */
    ns_spec *spec = NULL;
    ns_status st = spec_path ? ns_spec_load(ctx, spec_path, &spec)
                             : ns_spec_parse(ctx, seed_spec, strlen(seed_spec), "seed", &spec);
    if (st != NS_OK)
        return fail(ctx, "model define");
    const ns_train_settings *ts = ns_spec_training(spec);
    if (epochs < 0)
        epochs = ts->epochs;
    int bs = ts->batch_size;

    /* Build Model */
    ns_build_opts bo;
    ns_build_opts_default(&bo, nf);
    bo.max_batch = bs > n_test ? bs : n_test;
    bo.output_size = 1;
    bo.seed = seed;
    ns_model *model = NULL;
    if (ns_model_build(ctx, spec, &bo, &model) != NS_OK)
        return fail(ctx, "build model");

    /* Initialize Optimizer */
    ns_optim_kind ok;
    if (ns_optim_kind_parse(ts->optimizer, &ok) != NS_OK)
        ok = NS_OPTIM_ADAM;
    ns_optim_config oc;
    ns_optim_config_default(&oc, ok);
    oc.lr = ts->learning_rate;
    oc.weight_decay = ts->weight_decay;
    ns_optim *opt = NULL;
    if (ns_optim_new(model, &oc, &opt) != NS_OK)
        return fail(ctx, "initialize optimizer");
    ns_loss_config lc;
    ns_loss_config_default(&lc, NS_LOSS_MSE);

    printf("netsmith %s: seed blueprint on Boston housing (%d train / %d test rows, %zu "
           "parameters)\n",
           ns_version(), n_train, n_test, ns_model_param_count(model));
    int steps_per_epoch = (n_train + bs - 1) / bs;
    size_t max_steps = (size_t)epochs * (size_t)steps_per_epoch;
    double *step_ms = malloc((max_steps ? max_steps : 1) * sizeof *step_ms);
    size_t n_steps = 0;
    int *perm = malloc((size_t)n_train * sizeof *perm);
    float *bx = malloc((size_t)bs * (size_t)nf * sizeof *bx);
    float *by = malloc((size_t)bs * sizeof *by);
    float *dpred = malloc((size_t)bs * sizeof *dpred);
    for (int e = 0; e < epochs; e++) {
        /* Prepare Batch: the epoch's order from the (seed, shuffle, epoch) stream. */
        ns_rng_init(&rng, seed, NS_RNG_SHUFFLE, (uint64_t)e);
        for (int i = 0; i < n_train; i++)
            perm[i] = i;
        for (int i = n_train - 1; i > 0; i--) {
            int j = (int)ns_rng_below(&rng, (uint32_t)i + 1);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        double epoch_loss = 0;
        for (int b0 = 0; b0 < n_train; b0 += bs) {
            int nb = n_train - b0 < bs ? n_train - b0 : bs;
            for (int i = 0; i < nb; i++) {
                memcpy(bx + (size_t)i * (size_t)nf, xs + (size_t)perm[b0 + i] * (size_t)nf,
                       (size_t)nf * sizeof(float));
                by[i] = ys[perm[b0 + i]];
            }
            double t0 = now_ms();
            ns_optim_zero_grad(opt);                                        /* Zero Gradients */
            const float *pred = NULL;
            if (ns_model_forward(model, bx, nb, true, &pred) != NS_OK)      /* Forward Pass */
                return fail(ctx, "forward");
            double loss = 0;
            ns_targets tg = {.values = by};
            if (ns_loss_compute(ctx, &lc, pred, &tg, nb, 1, &loss, dpred) != NS_OK)
                return fail(ctx, "loss");                                   /* Calculate Loss */
            if (ns_model_backward(model, dpred) != NS_OK)                   /* Backward Pass */
                return fail(ctx, "backward");
            if (ns_optim_step(opt, NULL, NULL) != NS_OK)                    /* Optimizer Step */
                return fail(ctx, "optimizer step");
            step_ms[n_steps++] = now_ms() - t0;
            epoch_loss += loss * nb;
        }
        if (e == 0 || (e + 1) % 10 == 0 || e + 1 == epochs)
            printf("epoch %3d/%d  train mse %9.4f\n", e + 1, epochs, epoch_loss / n_train);
    }

    /* Evaluate: test RMSE in evaluation mode (no dropout). */
    const float *pred = NULL;
    if (ns_model_forward(model, xs + (size_t)n_train * (size_t)nf, n_test, false, &pred) != NS_OK)
        return fail(ctx, "evaluate");
    double se = 0;
    for (int i = 0; i < n_test; i++) {
        double d = (double)pred[i] - (double)ys[n_train + i];
        se += d * d;
    }
    double rmse = sqrt(se / n_test);
    qsort(step_ms, n_steps, sizeof *step_ms, cmp_double);
    printf("test rmse %.3f  (median training step %.4f ms for batch %d, %zu steps)\n", rmse,
           n_steps ? step_ms[n_steps / 2] : 0.0, bs, n_steps);

    int rc = 0;
    if (out_path != NULL) {
        if (ns_model_save(model, out_path, NULL, 0) != NS_OK)
            rc = fail(ctx, "save");
        else
            printf("saved %s\n", out_path);
    }
    if (max_rmse > 0 && !(rmse <= max_rmse)) {
        fprintf(stderr, "train_steps: test rmse %.3f is worse than %.3f\n", rmse, max_rmse);
        rc = 1;
    }
    free(step_ms);
    free(perm);
    free(bx);
    free(by);
    free(dpred);
    free(order);
    free(xs);
    free(ys);
    free(x);
    free(y);
    ns_optim_free(opt);
    ns_model_free(model);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
    return rc;
}
