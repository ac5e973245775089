/* Writes the binary seeds of the fuzz corpora (tests/fuzz/corpus/<target>/) with the library's
 * own writers: small model files, training-state and optimizer files, dataset files, IDX files
 * (a few real Fashion-MNIST images when Debian's dataset-fashion-mnist is installed) and
 * safetensors edge cases, plus damaged copies. make_corpus.sh runs it and adds the text seeds.
 *
 *   fuzz_make_corpus CORPUS_DIR SOURCE_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "netsmith/netsmith.h"

static const char *corpus_dir, *source_dir;
static ns_ctx *ctx;

static void die(const char *what)
{
    fprintf(stderr, "make_corpus: %s: %s\n", what, ns_errmsg(ctx));
    exit(1);
}

static void ok(ns_status st, const char *what)
{
    if (st != NS_OK)
        die(what);
}

static const char *path(const char *target, const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", corpus_dir, target);
    mkdir(buf[k], 0755);
    snprintf(buf[k], sizeof buf[k], "%s/%s/%s", corpus_dir, target, name);
    return buf[k];
}

static void write_bytes(const char *p, const void *data, size_t n)
{
    FILE *f = fopen(p, "wb");
    if (f == NULL || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "make_corpus: cannot write %s\n", p);
        exit(1);
    }
}

static unsigned char *read_bytes(const char *p, size_t *n)
{
    char *buf = NULL;
    ok(ns_read_file(ctx, p, &buf, n), p);
    return (unsigned char *)buf;
}

/* Copies file `from` into the corpora of the targets listed (NULL-terminated) as `name`. */
static void copy_to(const char *from, const char *name, const char *const *targets)
{
    size_t n;
    unsigned char *b = read_bytes(from, &n);
    for (int i = 0; targets[i] != NULL; i++)
        write_bytes(path(targets[i], name), b, n);
    ns_dealloc(ctx, b);
}

/* A copy of file `from` cut to `keep` bytes, or with the byte at `at` xor'ed with `flip`. */
static void damaged(const char *from, const char *target, const char *name, size_t keep, size_t at,
                    unsigned char flip)
{
    size_t n;
    unsigned char *b = read_bytes(from, &n);
    if (keep < n)
        n = keep;
    if (at < n)
        b[at] ^= flip;
    write_bytes(path(target, name), b, n);
    ns_dealloc(ctx, b);
}

/* ---- models --------------------------------------------------------------------------------- */

typedef struct net {
    const char *name;
    const char *spec;
    int ndim;
    int shape[3];
    int output_size;
} net;

static const net nets[] = {
    {"mlp_short",
     "{\"hidden_layers\": [4], \"activation\": \"tanh\", \"dropout\": 0.25}",
     1,
     {3},
     2},
    {"mlp_layers",
     "{\"input\": [5], \"layers\": [{\"type\": \"linear\", \"units\": 4}, {\"type\": "
     "\"batchnorm1d\"}, {\"type\": \"gelu\"}, {\"type\": \"dropout\", \"p\": 0.1}, {\"type\": "
     "\"linear\", \"units\": 3, \"bias\": false}, {\"type\": \"layernorm\"}, {\"type\": "
     "\"leaky_relu\", \"negative_slope\": 0.1}, {\"type\": \"linear\", \"units\": 2}, {\"type\": "
     "\"softmax\"}]}",
     1,
     {5},
     0},
    {"cnn",
     "{\"input\": [2, 4, 4], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, "
     "\"padding\": 1}, {\"type\": \"batchnorm2d\"}, {\"type\": \"relu\"}, {\"type\": "
     "\"maxpool2d\", \"kernel\": 2}, {\"type\": \"dropout2d\", \"p\": 0.2}, {\"type\": \"conv2d\", "
     "\"filters\": 2, \"kernel\": [2, 1], \"groups\": 2, \"stride\": [1, 2]}, {\"type\": "
     "\"flatten\"}, {\"type\": \"linear\", \"units\": 3}]}",
     3,
     {2, 4, 4},
     0},
    {"cnn_pools",
     "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 3, \"kernel\": 2, \"dilation\": 2, "
     "\"padding\": \"same\"}, {\"type\": \"elu\"}, {\"type\": \"avgpool2d\", \"kernel\": 2, "
     "\"padding\": 1, \"count_include_pad\": false}, {\"type\": \"adaptive_avgpool2d\", "
     "\"output_size\": [2, 1]}, {\"type\": \"silu\"}, {\"type\": \"global_avgpool2d\"}, "
     "{\"type\": \"flatten\"}, {\"type\": \"linear\", \"units\": 1}, {\"type\": \"sigmoid\"}]}",
     3,
     {1, 5, 5},
     0},
};

static ns_model *build(const net *n, int max_batch, bool keep_input_grad)
{
    ns_spec *spec = NULL;
    ok(ns_spec_parse(ctx, n->spec, strlen(n->spec), n->name, &spec), n->name);
    ns_build_opts o;
    ns_build_opts_default(&o, 1);
    o.input_ndim = n->ndim;
    memcpy(o.input_shape, n->shape, sizeof o.input_shape);
    o.output_size = n->output_size;
    o.max_batch = max_batch;
    o.seed = 3;
    o.keep_input_grad = keep_input_grad;
    ns_model *m = NULL;
    ok(ns_model_build(ctx, spec, &o, &m), n->name);
    ns_spec_free(spec);
    return m;
}

/* One training forward of 2 samples on m (x is kept for the state file's last input). */
static void forward(ns_model *m, float *x)
{
    int in = ns_model_input_size(m);
    for (int i = 0; i < 2 * in; i++)
        x[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    const float *y;
    ok(ns_model_forward(m, x, 2, true, &y), "forward");
}

static void models(void)
{
    static const char *const model_targets[] = {"model_file", "safetensors", NULL};
    static const char *const state_targets[] = {"train_state", NULL};
    char name[96];
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        const net *n = &nets[i];
        ns_model *m = build(n, 2, i == 2);
        snprintf(name, sizeof name, "%s.safetensors", n->name);
        const char *p = path("model_file", name);
        ok(ns_model_save(m, p, NULL, 0), "save");
        copy_to(p, name, model_targets + 1);
        if (i == 0)
            copy_to(p, name, state_targets);
        /* The state between a training forward and its backward. */
        float x[2 * 32];
        forward(m, x);
        snprintf(name, sizeof name, "%s.state", n->name);
        ok(ns_model_save_state(m, path("train_state", name)), "save_state");
        ns_model_forget_forward(m);
        ns_model_free(m);
    }
    damaged(path("model_file", "mlp_short.safetensors"), "model_file", "bad_cut.safetensors", 200,
            SIZE_MAX, 0);
    damaged(path("model_file", "cnn.safetensors"), "model_file", "bad_flip.safetensors", SIZE_MAX,
            40, 0x04);
    damaged(path("train_state", "cnn.state"), "train_state", "bad_cut.state", 900, SIZE_MAX, 0);
}

/* Optimizer files of the fixed model of fuzz_train_state.c. */
static void optimizers(void)
{
    static const net fixed = {"fixed",
                              "{\"input\": [4], \"layers\": [{\"type\": \"linear\", \"units\": 3}, "
                              "{\"type\": \"relu\"}, {\"type\": \"linear\", \"units\": 2}]}",
                              1,
                              {4},
                              0};
    struct {
        const char *name;
        ns_optim_kind kind;
        double momentum;
        bool nesterov, amsgrad, centered;
    } kinds[] = {
        {"sgd_nesterov", NS_OPTIM_SGD, 0.9, true, false, false},
        {"adam_amsgrad", NS_OPTIM_ADAM, 0, false, true, false},
        {"adamw", NS_OPTIM_ADAMW, 0, false, false, false},
        {"rmsprop_centered", NS_OPTIM_RMSPROP, 0.5, false, false, true},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        ns_model *m = build(&fixed, 2, false);
        ns_optim_config cfg;
        ns_optim_config_default(&cfg, kinds[i].kind);
        cfg.momentum = kinds[i].momentum;
        cfg.nesterov = kinds[i].nesterov;
        cfg.amsgrad = kinds[i].amsgrad;
        cfg.centered = kinds[i].centered;
        ns_optim *o = NULL;
        ok(ns_optim_new(m, &cfg, &o), kinds[i].name);
        for (int s = 0; s < 2; s++) {
            float x[8], dy[4] = {0.5f, -0.25f, 0.125f, 1.0f};
            ns_optim_zero_grad(o);
            forward(m, x);
            ok(ns_model_backward(m, dy), "backward");
            ok(ns_optim_step(o, NULL, NULL), "step");
        }
        ns_model_forget_forward(m);
        char name[96];
        snprintf(name, sizeof name, "%s.optim", kinds[i].name);
        ok(ns_optim_save_state(o, path("train_state", name)), "optim_save_state");
        ns_optim_free(o);
        ns_model_free(m);
    }
    damaged(path("train_state", "adamw.optim"), "train_state", "bad_flip.optim", SIZE_MAX, 60,
            0x01);
}

/* ---- IDX and dataset files ---------------------------------------------------------------- */

static unsigned char *gzip(const unsigned char *data, size_t n, size_t *out_len)
{
    uLong cap = compressBound((uLong)n) + 64;
    unsigned char *out = malloc(cap);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (out == NULL || deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY))
        exit(1);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        exit(1);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A seed of fuzz_idx: flags, the images part's length, images, labels. */
static void idx_seed(const char *name, unsigned flags, const unsigned char *img, size_t ni,
                     const unsigned char *lab, size_t nl)
{
    unsigned char *b = malloc(3 + ni + nl);
    b[0] = (unsigned char)flags;
    b[1] = (unsigned char)(ni & 0xff);
    b[2] = (unsigned char)(ni >> 8);
    memcpy(b + 3, img, ni);
    memcpy(b + 3 + ni, lab, nl);
    write_bytes(path("idx", name), b, 3 + ni + nl);
    free(b);
}

/* images [count, rows, cols] and labels [count] as IDX files in img/lab. */
static size_t make_idx(unsigned char *img, unsigned char *lab, uint32_t count, uint32_t rows,
                       uint32_t cols, const unsigned char *pixels, const unsigned char *labels)
{
    static const unsigned char mi[4] = {0, 0, 8, 3}, ml[4] = {0, 0, 8, 1};
    memcpy(img, mi, 4);
    be32(img + 4, count);
    be32(img + 8, rows);
    be32(img + 12, cols);
    memcpy(img + 16, pixels, (size_t)count * rows * cols);
    memcpy(lab, ml, 4);
    be32(lab + 4, count);
    memcpy(lab + 8, labels, count);
    return 16 + (size_t)count * rows * cols;
}

/* The first `count` images and labels of Fashion-MNIST's test set (false when not installed). */
static bool fashion(uint32_t count, unsigned char *pixels, unsigned char *labels)
{
    gzFile gi = gzopen("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", "rb");
    gzFile gl = gzopen("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", "rb");
    unsigned char h[16];
    bool got = gi && gl && gzread(gi, h, 16) == 16 &&
               gzread(gi, pixels, 784 * count) == (int)(784 * count) && gzread(gl, h, 8) == 8 &&
               gzread(gl, labels, count) == (int)count;
    if (gi)
        gzclose(gi);
    if (gl)
        gzclose(gl);
    return got;
}

static void idx_and_datasets(void)
{
    unsigned char img[16 + 3 * 784], lab[8 + 3];
    unsigned char px[3 * 784], lb[3] = {0, 1, 2};
    for (int i = 0; i < 3 * 16; i++)
        px[i] = (unsigned char)(i * 37);
    size_t ni = make_idx(img, lab, 3, 4, 4, px, lb);
    idx_seed("tiny_raw", 0, img, ni, lab, 11);
    idx_seed("tiny_gz_here", 3, img, ni, lab, 11);
    idx_seed("tiny_find_labels", 4, img, ni, lab, 11);
    size_t zi, zl;
    unsigned char *gi = gzip(img, ni, &zi), *gl = gzip(lab, 11, &zl);
    idx_seed("tiny_gzipped", 0, gi, zi, gl, zl);
    idx_seed("bad_count", 0, img, ni, lab, 10);
    unsigned char bad[sizeof img];
    memcpy(bad, img, ni);
    bad[3] = 1;
    idx_seed("bad_magic", 0, bad, ni, lab, 11);
    free(gi);
    free(gl);

    /* A dataset of byte images, saved as a dataset file. */
    char dir[] = "/tmp/ns_corpus_XXXXXX";
    if (mkdtemp(dir) == NULL)
        exit(1);
    char pi[256], pl[256];
    snprintf(pi, sizeof pi, "%s/t-images-idx3-ubyte", dir);
    snprintf(pl, sizeof pl, "%s/t-labels-idx1-ubyte", dir);
    if (fashion(2, px, lb)) {
        ni = make_idx(img, lab, 2, 28, 28, px, lb);
        idx_seed("fashion_2", 0, img, ni, lab, 10);
        gi = gzip(img, ni, &zi);
        gl = gzip(lab, 10, &zl);
        idx_seed("fashion_2_gzipped", 0, gi, zi, gl, zl);
        free(gi);
        free(gl);
        ni = make_idx(img, lab, 1, 28, 28, px, lb);
        write_bytes(pi, img, ni);
        write_bytes(pl, lab, 9);
    } else {
        ni = make_idx(img, lab, 3, 4, 4, px, lb);
        write_bytes(pi, img, ni);
        write_bytes(pl, lab, 11);
    }
    /* Loaded by relative names from inside the directory: the dataset is named after the
     * images path, which must not be the random directory's. */
    ns_dataset *ds = NULL;
    int here = open(".", O_RDONLY);
    if (here < 0 || chdir(dir) != 0)
        exit(1);
    ok(ns_data_load_idx(ctx, "t-images-idx3-ubyte", "t-labels-idx1-ubyte", NULL, &ds), "load_idx");
    if (fchdir(here) != 0)
        exit(1);
    close(here);
    ok(ns_dataset_save(ds, path("dataset_file", "images.safetensors")), "dataset_save");
    ns_dataset_free(ds);
    remove(pi);
    remove(pl);
    remove(dir);

    /* Tables from the built-in CSVs: a classification view, normalised, and a regression one. */
    char csv[512];
    snprintf(csv, sizeof csv, "%s/data/iris.csv", source_dir);
    size_t n;
    unsigned char *text = read_bytes(csv, &n);
    /* A stratified 8% of the rows: 12, four of each class. */
    ok(ns_data_parse_csv(ctx, (const char *)text, n, "iris", NULL, NULL, &ds), "iris");
    ns_split_options so;
    ns_split_options_default(&so);
    so.train = 0.08;
    so.val = 0.92;
    so.test = 0;
    so.seed = 5;
    ns_dataset *part = NULL, *rest = NULL;
    ok(ns_data_split(ds, &so, &part, &rest, NULL), "split");
    ok(ns_dataset_save(part, path("dataset_file", "iris_part.safetensors")), "save");
    ns_norm norm;
    ok(ns_norm_fit(ctx, part, NS_NORM_MINMAX, &norm), "fit");
    ns_dataset *normed = NULL;
    ok(ns_data_normalize(part, &norm, &normed), "normalize");
    ok(ns_dataset_save(normed, path("dataset_file", "iris_minmax.safetensors")), "save");
    ns_norm_deinit(ctx, &norm);
    ns_dataset_free(normed);
    ns_dataset_free(part);
    ns_dataset_free(rest);
    ns_dataset_free(ds);
    ns_dealloc(ctx, text);

    snprintf(csv, sizeof csv, "%s/data/boston_housing.csv", source_dir);
    text = read_bytes(csv, &n);
    size_t cut;
    for (cut = 0; cut < n && text[cut] != '\n'; cut++)
        ;
    size_t end = cut;
    for (int lines = 0; end < n && lines < 9; end++)
        lines += text[end] == '\n';
    ns_csv_options o;
    ns_csv_options_default(&o);
    o.target = "MEDV,LSTAT";
    ok(ns_data_parse_csv(ctx, (const char *)text, end, "boston", &o, NULL, &ds), "boston");
    ok(ns_norm_fit(ctx, ds, NS_NORM_STANDARD, &norm), "fit");
    ok(ns_data_normalize(ds, &norm, &normed), "normalize");
    ok(ns_dataset_save(normed, path("dataset_file", "boston_standard.safetensors")), "save");
    ns_norm_deinit(ctx, &norm);
    ns_dataset_free(normed);
    ns_dataset_free(ds);
    ns_dealloc(ctx, text);
    damaged(path("dataset_file", "iris_part.safetensors"), "dataset_file", "bad_cut.safetensors",
            300, SIZE_MAX, 0);
    static const char *const st_targets[] = {"safetensors", NULL};
    copy_to(path("dataset_file", "images.safetensors"), "dataset_images.safetensors", st_targets);
}

/* ---- safetensors edge cases ----------------------------------------------------------------- */

static void st_seed(const char *name, const ns_st_tensor *t, int n, const ns_st_meta *m, int nm)
{
    unsigned char *b = NULL;
    size_t len;
    ok(ns_st_serialize(ctx, t, n, m, nm, &b, &len), name);
    write_bytes(path("safetensors", name), b, len);
    ns_dealloc(ctx, b);
}

static void raw_seed(const char *name, const char *header, const void *data, size_t n)
{
    size_t h = strlen(header);
    unsigned char *b = malloc(8 + h + n + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    if (n)
        memcpy(b + 8 + h, data, n);
    write_bytes(path("safetensors", name), b, 8 + h + n);
    free(b);
}

static void safetensors(void)
{
    static const double d[2] = {1.5, -2.0};
    static const uint16_t h[3] = {0x3c00, 0x8000, 0x7c00};
    static const int64_t c[1] = {7};
    ns_st_tensor t[4] = {
        {"a.weight", NS_DTYPE_F64, 2, {1, 2}, d, sizeof d},
        {"half", NS_DTYPE_F16, 1, {3}, h, sizeof h},
        {"scalar", NS_DTYPE_I64, 0, {0}, c, sizeof c},
        {"empty", NS_DTYPE_BF16, 2, {0, 5}, NULL, 0},
    };
    ns_st_meta m[2] = {{"format", "pt"}, {"note", "{\"json\": [1, 2]}"}};
    st_seed("mixed.safetensors", t, 4, m, 2);
    st_seed("meta_only.safetensors", NULL, 0, m, 1);
    st_seed("empty.safetensors", NULL, 0, NULL, 0);
    raw_seed("unpadded.safetensors",
             "{\"x\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}", "abc", 3);
    raw_seed("bad_overlap.safetensors",
             "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
             "\"y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}",
             "abc", 3);
    raw_seed("bad_dtype.safetensors",
             "{\"x\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}",
             "0123456789abcdef", 16);
    raw_seed("bad_shape.safetensors",
             "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
             "abcd", 4);
    raw_seed("bad_json.safetensors", "{\"x\":{\"dtype\":", "", 0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CORPUS_DIR SOURCE_DIR\n", argv[0]);
        return 2;
    }
    corpus_dir = argv[1];
    source_dir = argv[2];
    mkdir(corpus_dir, 0755);
    if (ns_ctx_new(NULL, &ctx) != NS_OK)
        return 1;
    models();
    optimizers();
    idx_and_datasets();
    safetensors();
    ns_ctx_free(ctx);
    return 0;
}
