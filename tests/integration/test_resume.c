/* Exact resume: training killed with SIGKILL at a random step and resumed from its newest
 * checkpoint ends with the same final weights, byte for byte, as training never interrupted.
 * The killed runs are separate processes (this binary run again with --child). Resuming with
 * other settings or other data is refused with a message that says what changed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static const char spec_json[] =
    "{\"model_type\": \"deep_neural_network\", \"hidden_layers\": [32, 16],"
    " \"activation\": \"relu\", \"dropout\": 0.2, \"learning_rate\": 0.003, \"epochs\": 6,"
    " \"batch_size\": 32}";

static char self_path[4096];

typedef struct job {
    ns_ctx *ctx;
    ns_spec *spec;
    ns_dataset *data, *tr, *va;
} job;

static void job_open(job *j, int epochs_override)
{
    (void)epochs_override;
    memset(j, 0, sizeof *j);
    if (ns_ctx_new(NULL, &j->ctx) != NS_OK)
        abort();
    if (ns_spec_parse(j->ctx, spec_json, strlen(spec_json), "spec", &j->spec) != NS_OK ||
        ns_data_load(j->ctx, "boston_housing", NULL, NULL, &j->data, NULL) != NS_OK) {
        fprintf(stderr, "setup: %s\n", ns_errmsg(j->ctx));
        abort();
    }
    ns_split_options so;
    ns_split_options_default(&so);
    so.train = 0.8;
    so.val = 0.2;
    so.test = 0;
    so.seed = 3;
    if (ns_data_split(j->data, &so, &j->tr, &j->va, NULL) != NS_OK)
        abort();
}

static void job_close(job *j)
{
    ns_dataset_free(j->tr);
    ns_dataset_free(j->va);
    ns_dataset_free(j->data);
    ns_spec_free(j->spec);
    ns_ctx_free(j->ctx);
}

/* The run's settings as a run config (a new one each call; free with ns_run_config_free). */
static ns_run_config *options(ns_ctx *ctx, const char *dir, bool resume)
{
    ns_run_config *cfg = NULL;
    char d[600];
    snprintf(d, sizeof d, "\"%s\"", dir);
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &cfg));
    NS_ASSERT_OK(ctx, ns_run_config_merge(cfg,
                                          "{\"seed\": 11, \"normalize\": \"standard\", "
                                          "\"checkpoint_every\": 1, \"checkpoint_steps\": 4, "
                                          "\"early_stopping\": 10, \"restore_best\": true, "
                                          "\"schedule\": \"cosine\", \"t_max\": 6}",
                                          "test"));
    NS_ASSERT_OK(ctx, ns_run_config_set(cfg, "checkpoint_dir", d, "test"));
    NS_ASSERT_OK(ctx, ns_run_config_set(cfg, "resume", resume ? "true" : "false", "test"));
    return cfg;
}

static int64_t kill_at;

static bool kill_cb(void *ud, ns_trainer *t, const ns_batch *b, double loss)
{
    (void)ud, (void)b, (void)loss;
    if (ns_trainer_get_state(t)->step == kill_at)
        raise(SIGKILL);
    return true;
}

/* The child: trains with checkpoints and dies at step kill_at. */
static int child(const char *dir, long long step)
{
    job j;
    job_open(&j, 0);
    ns_run_config *fo = options(j.ctx, dir, true); /* resume too, so a second kill continues the same run */
    kill_at = step;
    ns_train_callbacks cb = {kill_cb, NULL, NULL};
    ns_fit_result res;
    ns_fit_input in = {.spec = j.spec, .train = j.tr, .val = j.va};
    ns_status st = ns_fit(j.ctx, fo, &in, &cb, NULL, &res);
    fprintf(stderr, "child was not killed: %s\n", st == NS_OK ? "finished" : ns_errmsg(j.ctx));
    return 3;
}

/* Runs to the end (resuming from dir if it has checkpoints); returns the final parameters. */
static float *finish(const char *dir, size_t *n, int *epochs_run, bool *resumed)
{
    job j;
    job_open(&j, 0);
    ns_run_config *fo = options(j.ctx, dir, true);
    ns_fit_result res;
    ns_fit_input in = {.spec = j.spec, .train = j.tr, .val = j.va};
    NS_ASSERT_OK(j.ctx, ns_fit(j.ctx, fo, &in, NULL, NULL, &res));
    ns_run_config_free(fo);
    *n = ns_model_param_count(res.model);
    float *p = malloc(*n * sizeof *p);
    memcpy(p, ns_model_params(res.model), *n * sizeof *p);
    *epochs_run = res.epochs_run;
    *resumed = res.resumed;
    ns_fit_result_free(j.ctx, &res);
    job_close(&j);
    return p;
}

static void run_child(const char *dir, long long step)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char s[32];
        snprintf(s, sizeof s, "%lld", step);
        execl(self_path, self_path, "--child", dir, s, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
        fprintf(stderr, "child for step %lld did not die by SIGKILL (status %d)\n", step, status);
        fail();
    }
}

static void test_killed_and_resumed_matches(void **state)
{
    (void)state;
    char base[] = "/tmp/ns_resume_XXXXXX";
    assert_non_null(mkdtemp(base));
    char ref_dir[256];
    snprintf(ref_dir, sizeof ref_dir, "%s/ref", base);
    size_t n_ref = 0, n = 0;
    int epochs_ref = 0, epochs = 0;
    bool resumed = false;
    float *ref = finish(ref_dir, &n_ref, &epochs_ref, &resumed);
    assert_false(resumed);

    /* 11 batches an epoch, 6 epochs: kill at random steps, some twice in one run. */
    ns_rng rng;
    ns_rng_init(&rng, (uint64_t)time(NULL), NS_RNG_USER, 0);
    for (int trial = 0; trial < 3; trial++) {
        char dir[256];
        snprintf(dir, sizeof dir, "%s/run%d", base, trial);
        long long first = 1 + (long long)ns_rng_below(&rng, 60);
        fprintf(stderr, "trial %d: SIGKILL at step %lld", trial, first);
        run_child(dir, first);
        if (trial == 2) {
            long long second = first + 1 + (long long)ns_rng_below(&rng, 5);
            fprintf(stderr, ", then again at step %lld", second);
            run_child(dir, second);
        }
        fprintf(stderr, "\n");
        float *p = finish(dir, &n, &epochs, &resumed);
        assert_true(resumed || first < 4); /* before the first checkpoint there is none */
        assert_int_equal(n, n_ref);
        assert_int_equal(epochs, epochs_ref);
        assert_memory_equal(p, ref, n * sizeof *p);
        free(p);
    }
    free(ref);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

static void test_resume_refuses_changes(void **state)
{
    (void)state;
    char dir[] = "/tmp/ns_resume_change_XXXXXX";
    assert_non_null(mkdtemp(dir));
    job j;
    job_open(&j, 0);
    ns_run_config *fo = options(j.ctx, dir, false);
    ns_fit_result res;
    ns_fit_input in = {.spec = j.spec, .train = j.tr, .val = j.va};
    NS_ASSERT_OK(j.ctx, ns_fit(j.ctx, fo, &in, NULL, NULL, &res));
    ns_fit_result_free(j.ctx, &res);
    ns_run_config_free(fo);
    /* Other settings. */
    fo = options(j.ctx, dir, true);
    NS_ASSERT_OK(j.ctx, ns_run_config_set(fo, "epochs", "7", "test"));
    NS_ASSERT_STATUS(j.ctx, ns_fit(j.ctx, fo, &in, NULL, NULL, &res), NS_ERR_STATE);
    ns_run_config_free(fo);
    NS_ASSERT_MSG_HAS(j.ctx, "epochs was 6, now 7");
    fo = options(j.ctx, dir, true);
    NS_ASSERT_OK(j.ctx, ns_run_config_set(fo, "learning_rate", "0.01", "test"));
    NS_ASSERT_STATUS(j.ctx, ns_fit(j.ctx, fo, &in, NULL, NULL, &res), NS_ERR_STATE);
    ns_run_config_free(fo);
    NS_ASSERT_MSG_HAS(j.ctx, "settings changed: optim");
    /* Other data: a different split seed. */
    ns_dataset *tr2 = NULL, *va2 = NULL;
    ns_split_options so;
    ns_split_options_default(&so);
    so.train = 0.8;
    so.val = 0.2;
    so.test = 0;
    so.seed = 4;
    NS_ASSERT_OK(j.ctx, ns_data_split(j.data, &so, &tr2, &va2, NULL));
    fo = options(j.ctx, dir, true);
    ns_fit_input in2 = {.spec = j.spec, .train = tr2, .val = va2};
    NS_ASSERT_STATUS(j.ctx, ns_fit(j.ctx, fo, &in2, NULL, NULL, &res), NS_ERR_STATE);
    NS_ASSERT_MSG_HAS(j.ctx, "training data changed");
    /* The same run resumes (it has finished: nothing more to do) and gives the same model. */
    NS_ASSERT_OK(j.ctx, ns_fit(j.ctx, fo, &in, NULL, NULL, &res));
    ns_run_config_free(fo);
    assert_true(res.resumed);
    ns_fit_result_free(j.ctx, &res);
    ns_dataset_free(tr2);
    ns_dataset_free(va2);
    job_close(&j);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child(argv[2], atoll(argv[3]));
    ssize_t len = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (len <= 0)
        return 1;
    self_path[len] = '\0';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_and_resumed_matches),
        cmocka_unit_test(test_resume_refuses_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
