/* Training-step speed: one network per process, built from a layer-list spec (ns_spec_parse,
 * ns_model_build), trained with Adam (lr 1e-3) on data made once in memory (normal inputs,
 * random targets or labels, fixed seed). A step is zero_grad + forward + loss + backward +
 * optimizer step, as in examples/train_steps.c. Untimed warm-up, then REPEATS repeats of N
 * steps (N chosen so a repeat takes about --target seconds); the figure is the median repeat.
 * bench/bench_torch.py does the same steps in PyTorch; bench/run_bench.sh runs both.
 *
 *   bench_train NET [--repeats 5] [--target 0.5] [--threads T]
 *                                                   NET is one of a b c d e (--list names them)
 *   bench_train --sgemm [M N K]                     sgemm M x N x K (default 1024^3), GFLOP/s
 *   bench_train --list
 *   bench_train --fashion [--net c|e] [--epochs N] [--until ACC] [--threads T] [--seed S]
 *                                                   network c or e (default) on Fashion-MNIST
 *
 * Threads: OpenBLAS reads OPENBLAS_NUM_THREADS from the environment; --threads T is the
 * context's own thread count (ns_ctx_set_threads, default 1), which splits the large dense
 * products over T threads of the context's pool, each piece a single-threaded sgemm: use it
 * with OPENBLAS_NUM_THREADS=1 (a threaded OpenBLAS inside the pieces only competes with
 * them). Run one process per network so the peak RSS (getrusage ru_maxrss) is that
 * network's. Machine-readable output:
 *   result net=NAME ms=MEDIAN_MS sps=SAMPLES_PER_S rss_mb=PEAK_RSS gflops=ACHIEVED
 *          flop=FLOP_PER_STEP steps=N repeats=R params=P
 *   sgemm gflops=BEST threads=T
 *   fashion net=NAME load_s=LOAD train_s=TRAINING_WALL epoch_s=PER_EPOCH ms=MS_PER_STEP
 *           eval_s=EVAL test_acc=ACC rss_mb=RSS epochs=E steps=S until=ACC reached=0|1
 * --fashion times ns_data_load("fashion-mnist") (images kept as bytes, scaled to [0, 1] per
 * batch), then up to --epochs epochs (default 1) of shuffled batches of the network's batch
 * size from a synchronous batcher (Prepare Batch included in the step time), then the test
 * accuracy in batches of that size. With --until ACC the test set is evaluated after every
 * epoch (eval_s, not train_s) and training stops once the accuracy reaches ACC. One
 * wall-clock run, not a median; per-epoch accuracies go to stderr. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/blas.h"
#include "netsmith/netsmith.h"

#define DATA_BATCHES 4 /* distinct batches held in memory; steps cycle through them */

typedef struct net_def {
    const char *name;
    const char *what;
    int input[3]; /* per-sample shape; input[1] == 0 for a flat input */
    int batch;
    ns_loss_kind loss;
    const char *spec;
} net_def;

static const net_def nets[] = {
    {"a",
     "13-128-64-32-1 relu dropout0.2 mse",
     {13, 0, 0},
     32,
     NS_LOSS_MSE,
     "{\"layers\": [{\"type\": \"linear\", \"units\": 128}, {\"type\": \"relu\"},"
     " {\"type\": \"dropout\", \"p\": 0.2}, {\"type\": \"linear\", \"units\": 64},"
     " {\"type\": \"relu\"}, {\"type\": \"dropout\", \"p\": 0.2},"
     " {\"type\": \"linear\", \"units\": 32}, {\"type\": \"relu\"},"
     " {\"type\": \"dropout\", \"p\": 0.2}, {\"type\": \"linear\", \"units\": 1}]}"},
    {"b",
     "30-64-64-2 relu ce",
     {30, 0, 0},
     64,
     NS_LOSS_CROSS_ENTROPY,
     "{\"layers\": [{\"type\": \"linear\", \"units\": 64}, {\"type\": \"relu\"},"
     " {\"type\": \"linear\", \"units\": 64}, {\"type\": \"relu\"},"
     " {\"type\": \"linear\", \"units\": 2}]}"},
    {"c",
     "784-256-128-10 relu ce",
     {784, 0, 0},
     128,
     NS_LOSS_CROSS_ENTROPY,
     "{\"layers\": [{\"type\": \"linear\", \"units\": 256}, {\"type\": \"relu\"},"
     " {\"type\": \"linear\", \"units\": 128}, {\"type\": \"relu\"},"
     " {\"type\": \"linear\", \"units\": 10}]}"},
    {"d",
     "784-1024-1024-10 relu ce",
     {784, 0, 0},
     256,
     NS_LOSS_CROSS_ENTROPY,
     "{\"layers\": [{\"type\": \"linear\", \"units\": 1024}, {\"type\": \"relu\"},"
     " {\"type\": \"linear\", \"units\": 1024}, {\"type\": \"relu\"},"
     " {\"type\": \"linear\", \"units\": 10}]}"},
    {"e",
     "cnn 1x28x28 c32-p-c64-p-128-10 ce",
     {1, 28, 28},
     64,
     NS_LOSS_CROSS_ENTROPY,
     "{\"input\": [1, 28, 28], \"layers\": ["
     "{\"type\": \"conv2d\", \"filters\": 32, \"kernel\": 3}, {\"type\": \"relu\"},"
     " {\"type\": \"maxpool2d\", \"kernel\": 2},"
     " {\"type\": \"conv2d\", \"filters\": 64, \"kernel\": 3}, {\"type\": \"relu\"},"
     " {\"type\": \"maxpool2d\", \"kernel\": 2}, {\"type\": \"flatten\"},"
     " {\"type\": \"linear\", \"units\": 128}, {\"type\": \"relu\"},"
     " {\"type\": \"linear\", \"units\": 10}]}"},
};
#define NET_COUNT ((int)(sizeof nets / sizeof nets[0]))

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

/* FLOPs of one training step per sample, as the GEMMs do them: linear 2*in*out forward and
 * 4*in*out backward (weight and input gradients); conv2d 2*K*K*Cin/groups*Cout*Hout*Wout
 * forward and twice that backward. The first layer computes no input gradient (the model is
 * built without keep_input_grad, and PyTorch skips it too: the input needs no grad), so its
 * backward counts once, not twice. Biases, activations, pooling, loss and the optimizer are
 * not counted. */
static double flop_per_sample(const ns_model *model, const int input[3])
{
    int c = input[0], h = input[1] ? input[1] : 1, w = input[2] ? input[2] : 1;
    double flop = 0;
    double passes = 2.0; /* forward + weight gradient for the first layer; + input gradient after */
    for (int i = 0; i < ns_model_layer_count(model); i++) {
        const ns_layer_spec *ls = ns_model_layer(model, i);
        switch (ls->kind) {
        case NS_LAYER_LINEAR: {
            double in = (double)c * h * w;
            flop += passes * 2.0 * in * ls->units;
            passes = 3.0;
            c = ls->units;
            h = w = 1;
            break;
        }
        case NS_LAYER_CONV2D: {
            int ho = (h + 2 * ls->padding[0] - ls->dilation[0] * (ls->kernel[0] - 1) - 1) /
                         ls->stride[0] +
                     1;
            int wo = (w + 2 * ls->padding[1] - ls->dilation[1] * (ls->kernel[1] - 1) - 1) /
                         ls->stride[1] +
                     1;
            flop += passes * 2.0 * ls->kernel[0] * ls->kernel[1] * (c / ls->groups) *
                    (double)ls->filters * ho * wo;
            passes = 3.0;
            c = ls->filters;
            h = ho;
            w = wo;
            break;
        }
        case NS_LAYER_MAXPOOL2D:
        case NS_LAYER_AVGPOOL2D: {
            int sh = ls->stride[0] ? ls->stride[0] : ls->kernel[0];
            int sw = ls->stride[1] ? ls->stride[1] : ls->kernel[1];
            h = (h + 2 * ls->padding[0] - ls->kernel[0]) / sh + 1;
            w = (w + 2 * ls->padding[1] - ls->kernel[1]) / sw + 1;
            break;
        }
        case NS_LAYER_FLATTEN:
            c = c * h * w;
            h = w = 1;
            break;
        default:
            break;
        }
    }
    return flop;
}

/* C[m,n] = A[m,k] B[k,n], row-major, hot caches: the best of enough calls for ~0.2 s after a
 * warm-up, in GFLOP/s, through the library's own BLAS (src/core/blas.c). */
static int sgemm_bench(int m, int n, int k)
{
    float *a = malloc((size_t)m * k * sizeof *a), *b = malloc((size_t)k * n * sizeof *b);
    float *c = malloc((size_t)m * n * sizeof *c);
    if (!a || !b || !c)
        return 1;
    ns_rng rng;
    ns_rng_init(&rng, 1, NS_RNG_USER, 0);
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = ns_rng_normal(&rng);
    for (size_t i = 0; i < (size_t)k * n; i++)
        b[i] = ns_rng_normal(&rng);
    double flop = 2.0 * m * n * k, best = 1e30;
    int calls = (int)(0.02e9 / flop) + 1; /* ~2 ms of work per timing at 10 GFLOP/s */
    for (int r = 0; r < 11; r++) { /* the first is a warm-up */
        double t0 = now();
        for (int i = 0; i < calls; i++)
            ns__sgemm(CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
        double t = (now() - t0) / calls;
        if (r > 0 && t < best)
            best = t;
    }
    const char *threads = getenv("OPENBLAS_NUM_THREADS");
    printf("kernels %s\n", ns_kernel_path());
    printf("sgemm m=%d n=%d k=%d gflops=%.2f threads=%s\n", m, n, k, flop / best / 1e9,
           threads ? threads : "default");
    free(a);
    free(b);
    free(c);
    return 0;
}

static int fail(ns_ctx *ctx, const char *what)
{
    fprintf(stderr, "bench_train: %s: %s\n", what, ns_errmsg(ctx));
    return 1;
}

/* A context with `threads` threads (0: the library's default, 1). */
static ns_ctx *new_ctx(int threads)
{
    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK)
        return NULL;
    if (ns_ctx_set_threads(ctx, threads) != NS_OK) {
        fprintf(stderr, "bench_train: %s\n", ns_errmsg(ctx));
        ns_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

static int run_net(const net_def *net, int repeats, double target_s, int threads)
{
    ns_ctx *ctx = new_ctx(threads);
    if (ctx == NULL)
        return 1;
    ns_spec *spec = NULL;
    if (ns_spec_parse(ctx, net->spec, strlen(net->spec), net->name, &spec) != NS_OK)
        return fail(ctx, "spec");
    int flat = net->input[1] == 0;
    int in_size = flat ? net->input[0] : net->input[0] * net->input[1] * net->input[2];
    ns_build_opts bo;
    ns_build_opts_default(&bo, in_size);
    if (!flat) {
        bo.input_ndim = 3;
        memcpy(bo.input_shape, net->input, sizeof net->input);
    }
    bo.max_batch = net->batch;
    bo.seed = 42;
    ns_model *model = NULL;
    if (ns_model_build(ctx, spec, &bo, &model) != NS_OK)
        return fail(ctx, "build");
    ns_optim_config oc;
    ns_optim_config_default(&oc, NS_OPTIM_ADAM);
    oc.lr = 1e-3;
    ns_optim *opt = NULL;
    if (ns_optim_new(model, &oc, &opt) != NS_OK)
        return fail(ctx, "optimizer");
    ns_loss_config lc;
    ns_loss_config_default(&lc, net->loss);
    int outputs = ns_model_output_size(model), bs = net->batch;

    /* The data, made once: DATA_BATCHES batches of normal inputs and random targets. */
    size_t nx = (size_t)DATA_BATCHES * bs * in_size;
    float *x = malloc(nx * sizeof *x);
    float *yv = malloc((size_t)DATA_BATCHES * bs * outputs * sizeof *yv);
    int32_t *yl = malloc((size_t)DATA_BATCHES * bs * sizeof *yl);
    float *dpred = malloc((size_t)bs * outputs * sizeof *dpred);
    if (!x || !yv || !yl || !dpred)
        return 1;
    ns_rng rng;
    ns_rng_init(&rng, 42, NS_RNG_USER, 1);
    for (size_t i = 0; i < nx; i++)
        x[i] = ns_rng_normal(&rng);
    for (size_t i = 0; i < (size_t)DATA_BATCHES * bs * outputs; i++)
        yv[i] = ns_rng_normal(&rng);
    for (size_t i = 0; i < (size_t)DATA_BATCHES * bs; i++)
        yl[i] = (int32_t)ns_rng_below(&rng, (uint32_t)outputs);

    long step = 0;
#define STEP()                                                                                     \
    do {                                                                                           \
        int k = (int)(step++ % DATA_BATCHES);                                                      \
        ns_optim_zero_grad(opt);                                                                   \
        const float *pred = NULL;                                                                  \
        if (ns_model_forward(model, x + (size_t)k * bs * in_size, bs, true, &pred) != NS_OK)       \
            return fail(ctx, "forward");                                                           \
        double loss = 0;                                                                           \
        ns_targets tg = {.values = yv + (size_t)k * bs * outputs, .labels = yl + (size_t)k * bs};  \
        if (ns_loss_compute(ctx, &lc, pred, &tg, bs, outputs, &loss, dpred) != NS_OK)              \
            return fail(ctx, "loss");                                                              \
        if (ns_model_backward(model, dpred) != NS_OK)                                              \
            return fail(ctx, "backward");                                                          \
        if (ns_optim_step(opt, NULL, NULL) != NS_OK)                                               \
            return fail(ctx, "step");                                                              \
    } while (0)

    /* Warm-up (untimed for the result): at least 10 steps and 0.2 s; it also sizes N. */
    double t0 = now();
    int warm = 0;
    while (warm < 10 || now() - t0 < 0.2) {
        STEP();
        warm++;
    }
    double per_step = (now() - t0) / warm;
    int n = (int)ceil(target_s / per_step);
    if (n < 1)
        n = 1;
    double ms[64];
    if (repeats > 64)
        repeats = 64;
    for (int r = 0; r < repeats; r++) {
        double t = now();
        for (int i = 0; i < n; i++)
            STEP();
        ms[r] = (now() - t) * 1e3 / n;
    }
#undef STEP
    qsort(ms, (size_t)repeats, sizeof ms[0], cmp_double);
    double med = repeats % 2 ? ms[repeats / 2] : 0.5 * (ms[repeats / 2 - 1] + ms[repeats / 2]);
    double flop = flop_per_sample(model, net->input) * bs;
    printf("result net=%s ms=%.4f sps=%.1f rss_mb=%.1f gflops=%.2f flop=%.0f steps=%d "
           "repeats=%d params=%zu min_ms=%.4f max_ms=%.4f threads=%d\n",
           net->name, med, bs / (med / 1e3), peak_rss_mb(), flop / (med / 1e3) / 1e9, flop, n,
           repeats, ns_model_param_count(model), ms[0], ms[repeats - 1], ns_ctx_threads(ctx));
    free(x);
    free(yv);
    free(yl);
    free(dpred);
    ns_optim_free(opt);
    ns_model_free(model);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
    return 0;
}

/* Test accuracy of model on the dataset, in batches of the model's max_batch. */
static int test_accuracy(ns_ctx *ctx, ns_model *model, const ns_dataset *test, int bs, double *acc)
{
    ns_batch_options topt = {.batch_size = bs, .no_shuffle = true};
    ns_batcher *batcher = NULL;
    if (ns_batcher_new(test, &topt, &batcher) != NS_OK)
        return fail(ctx, "test batcher");
    int64_t correct = 0, seen = 0;
    for (int64_t i = 0; i < ns_batcher_count(batcher); i++) {
        ns_batch b;
        const float *pred = NULL;
        if (ns_batcher_get(batcher, 0, i, &b) != NS_OK ||
            ns_model_forward(model, b.x, b.n, false, &pred) != NS_OK)
            return fail(ctx, "evaluate");
        for (int r = 0; r < b.n; r++) {
            int best = 0;
            for (int k = 1; k < 10; k++)
                if (pred[r * 10 + k] > pred[r * 10 + best])
                    best = k;
            correct += best == b.labels[r];
        }
        seen += b.n;
    }
    ns_batcher_free(batcher);
    *acc = (double)correct / (double)seen;
    return 0;
}

/* Network NET (c or e) trained on Fashion-MNIST end to end (see the header): up to `epochs`
 * epochs, or, with until > 0, until the test accuracy after an epoch reaches `until` (the
 * test set is then evaluated after every epoch; that time is eval_s, not train_s). */
static int fashion(const net_def *net, int epochs, double until, int threads, uint64_t seed)
{
    ns_ctx *ctx = new_ctx(threads);
    if (ctx == NULL)
        return 1;
    double t0 = now();
    ns_dataset *train = NULL, *test = NULL;
    if (ns_data_load(ctx, "fashion-mnist", NULL, NULL, &train, &test) != NS_OK)
        return fail(ctx, "load fashion-mnist");
    double load_s = now() - t0;
    ns_spec *spec = NULL;
    if (ns_spec_parse(ctx, net->spec, strlen(net->spec), net->name, &spec) != NS_OK)
        return fail(ctx, "spec");
    ns_build_opts bo;
    ns_build_opts_default(&bo, 784);
    if (net->input[1] != 0) /* an image network: [1, 28, 28] as the data has it */
        bo.input_ndim = ns_dataset_input_shape(train, bo.input_shape);
    bo.max_batch = net->batch; /* evaluation uses the training batch size too */
    bo.seed = seed;
    ns_model *model = NULL;
    if (ns_model_build(ctx, spec, &bo, &model) != NS_OK)
        return fail(ctx, "build");
    ns_optim_config oc;
    ns_optim_config_default(&oc, NS_OPTIM_ADAM);
    oc.lr = 1e-3;
    ns_optim *opt = NULL;
    if (ns_optim_new(model, &oc, &opt) != NS_OK)
        return fail(ctx, "optimizer");
    ns_loss_config lc;
    ns_loss_config_default(&lc, NS_LOSS_CROSS_ENTROPY);
    float *dpred = malloc((size_t)net->batch * 10 * sizeof *dpred);
    ns_batch_options bopt = {.batch_size = net->batch, .seed = seed};
    ns_batcher *batcher = NULL;
    if (!dpred || ns_batcher_new(train, &bopt, &batcher) != NS_OK)
        return fail(ctx, "batcher");
    int64_t nb = ns_batcher_count(batcher);
    double loss_sum = 0, train_s = 0, eval_s = 0, acc = 0;
    int done = 0;
    for (int e = 0; e < epochs; e++) {
        t0 = now();
        for (int64_t i = 0; i < nb; i++) {
            ns_batch b;
            if (ns_batcher_get(batcher, e, i, &b) != NS_OK)
                return fail(ctx, "batch");
            ns_optim_zero_grad(opt);
            const float *pred = NULL;
            if (ns_model_forward(model, b.x, b.n, true, &pred) != NS_OK)
                return fail(ctx, "forward");
            double loss = 0;
            ns_targets tg = {.labels = b.labels};
            if (ns_loss_compute(ctx, &lc, pred, &tg, b.n, 10, &loss, dpred) != NS_OK)
                return fail(ctx, "loss");
            if (ns_model_backward(model, dpred) != NS_OK)
                return fail(ctx, "backward");
            if (ns_optim_step(opt, NULL, NULL) != NS_OK)
                return fail(ctx, "step");
            loss_sum += loss;
        }
        train_s += now() - t0;
        done = e + 1;
        if (until > 0 || done == epochs) {
            t0 = now();
            if (test_accuracy(ctx, model, test, net->batch, &acc) != 0)
                return 1;
            eval_s += now() - t0;
            fprintf(stderr, "bench_train: %s epoch %d: test accuracy %.4f, %.1f s training\n",
                    net->name, done, acc, train_s);
            if (until > 0 && acc >= until)
                break;
        }
    }
    printf("fashion net=%s load_s=%.3f train_s=%.3f epoch_s=%.3f ms=%.4f eval_s=%.3f "
           "test_acc=%.4f rss_mb=%.1f epochs=%d steps=%lld train_loss=%.4f until=%.4f "
           "reached=%d batch=%d threads=%d seed=%llu\n",
           net->name, load_s, train_s, train_s / done, train_s * 1e3 / ((double)nb * done), eval_s,
           acc, peak_rss_mb(), done, (long long)(nb * done), loss_sum / ((double)nb * done), until,
           until > 0 ? acc >= until : 1, net->batch, ns_ctx_threads(ctx), (unsigned long long)seed);
    ns_batcher_free(batcher);
    free(dpred);
    ns_optim_free(opt);
    ns_model_free(model);
    ns_spec_free(spec);
    ns_dataset_free(train);
    ns_dataset_free(test);
    ns_ctx_free(ctx);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_train NET [--repeats N] [--target SECONDS] | --sgemm [M N K] | "
                    "--list | --fashion [--net c|e] [--epochs N] [--until ACC] [--seed S]; "
                    "--threads T with NET "
                    "or --fashion\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "--sgemm") == 0)
        return argc == 5 ? sgemm_bench(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]))
                         : sgemm_bench(1024, 1024, 1024);
    int threads = 0;
    if (strcmp(argv[1], "--fashion") == 0) {
        const net_def *net = &nets[NET_COUNT - 1];
        int epochs = 1;
        double until = 0;
        uint64_t seed = 42;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
                epochs = atoi(argv[++i]);
            else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
                seed = strtoull(argv[++i], NULL, 10);
            else if (strcmp(argv[i], "--until") == 0 && i + 1 < argc)
                until = atof(argv[++i]);
            else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
                threads = atoi(argv[++i]);
            else if (strcmp(argv[i], "--net") == 0 && i + 1 < argc) {
                i++;
                net = NULL;
                for (int k = 0; k < NET_COUNT; k++)
                    if (strcmp(argv[i], nets[k].name) == 0 &&
                        (strcmp(argv[i], "c") == 0 || strcmp(argv[i], "e") == 0))
                        net = &nets[k];
                if (net == NULL)
                    return usage();
            } else
                return usage();
        }
        if (epochs < 1 || until < 0 || until > 1)
            return usage();
        return fashion(net, epochs, until, threads, seed);
    }
    if (strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < NET_COUNT; i++)
            printf("%s batch=%d %s\n", nets[i].name, nets[i].batch, nets[i].what);
        return 0;
    }
    int repeats = 5;
    double target = 0.5;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
            target = atof(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else
            return usage();
    }
    if (repeats < 1)
        return usage();
    for (int i = 0; i < NET_COUNT; i++)
        if (strcmp(argv[1], nets[i].name) == 0)
            return run_net(&nets[i], repeats, target, threads);
    fprintf(stderr, "bench_train: unknown network '%s' (try --list)\n", argv[1]);
    return 2;
}
