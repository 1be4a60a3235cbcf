/*
 * devbroker - a Kafka-protocol broker for development and tests.
 *
 * Runs librdkafka's mock cluster (real TCP listeners on random loopback
 * ports), creates <product>.users|faq|audit|dlq for every product of
 * ALLOWED_PRODUCTS, writes the bootstrap address to a file (atomically: a
 * reader sees the whole address or no file) and logs it, then serves until
 * SIGTERM or SIGINT, when it removes the file and exits 0.
 *
 * It is not Kafka: state lives in memory only, and the admin API
 * (CreateTopics, DeleteRecords, describing groups), offsets-for-times and
 * read_committed filtering do not work (see docs/brokers.md). Any topic a
 * client names is created on the fly.
 */
#include "bs/config.h"
#include "bs/error.h"
#include "bs/kafka.h"
#include "bs/log.h"
#include "bs/product.h"

#include <errno.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SERVICE        "devbroker"
#define MAX_BROKERS    9
#define MAX_PARTITIONS 256

static const char usage[] =
    "usage: devbroker [--bootstrap-file PATH]\n"
    "\n"
    "A Kafka-protocol broker for development and tests (librdkafka's mock\n"
    "cluster). Creates <product>.users, .faq, .audit and .dlq for every\n"
    "product of ALLOWED_PRODUCTS, writes its bootstrap address to PATH and\n"
    "runs until SIGTERM or SIGINT.";

static const struct bs_config_var vars[] = {
    {"DEVBROKER_BROKERS", "1", 0, "number of brokers (1-9)"},
    {"DEVBROKER_PARTITIONS", "3", 0, "partitions per topic (1-256)"},
    {"DEVBROKER_BOOTSTRAP_FILE", NULL, 0,
     "file to write the bootstrap address to (--bootstrap-file wins)"},
};

static const char *const topic_kinds[] = {"users", "faq", "audit", "dlq"};

struct devbroker {
    int brokers;
    int partitions;
    const char *bootstrap_file; /* NULL: only logged */
    rd_kafka_t *rk;             /* owns the cluster's bookkeeping */
    rd_kafka_mock_cluster_t *cluster;
};

/* Reads the configuration and the command line into `broker`. */
static int configure(struct devbroker *broker, const struct bs_program *program,
                     int argc, char **argv, char *errstr, size_t errstr_size)
{
    const struct bs_config *config = program->config;
    long brokers, partitions;
    int result;

    result = bs_config_get_number(config, "DEVBROKER_BROKERS", 1, MAX_BROKERS,
                                  &brokers, errstr, errstr_size);
    if (result == BS_OK)
        result = bs_config_get_number(config, "DEVBROKER_PARTITIONS", 1,
                                      MAX_PARTITIONS, &partitions, errstr,
                                      errstr_size);
    if (result != BS_OK)
        return result;
    broker->brokers = (int)brokers;
    broker->partitions = (int)partitions;

    broker->bootstrap_file = bs_config_get(config, "DEVBROKER_BOOTSTRAP_FILE");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bootstrap-file") == 0 && i + 1 < argc)
            broker->bootstrap_file = argv[++i];
        else if (strncmp(argv[i], "--bootstrap-file=", 17) == 0)
            broker->bootstrap_file = argv[i] + 17;
        else
            return bs_fail(errstr, errstr_size, BS_ECONFIG,
                           "unexpected argument '%s' (see --help)", argv[i]);
    }
    if (broker->bootstrap_file && !*broker->bootstrap_file)
        return bs_fail(errstr, errstr_size, BS_ECONFIG,
                       "the bootstrap file name is empty");
    return BS_OK;
}

/* The cluster needs an rd_kafka_t for its bookkeeping; that handle never
 * connects anywhere itself. */
static int start_cluster(struct devbroker *broker, char *errstr,
                         size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int result;

    if (!conf)
        return bs_fail(errstr, errstr_size, BS_ENOMEM,
                       "cannot allocate a Kafka configuration");
    bs_kafka_conf_set_logger(conf);
    result = bs_kafka_conf_set(conf, "client.id", SERVICE, errstr, errstr_size);

    /* Warnings and errors only: the notice that this handle has no
     * bootstrap.servers is expected and would only confuse. */
    if (result == BS_OK)
        result = bs_kafka_conf_set(conf, "log_level", "4", errstr, errstr_size);
    if (result != BS_OK) {
        rd_kafka_conf_destroy(conf);
        return result;
    }
    result = bs_kafka_producer_new(&broker->rk, conf, errstr, errstr_size);
    if (result != BS_OK)
        return result;

    broker->cluster = rd_kafka_mock_cluster_new(broker->rk, broker->brokers);
    if (!broker->cluster)
        return bs_fail(errstr, errstr_size, BS_EKAFKA,
                       "cannot start the mock cluster");
    return BS_OK;
}

/* Creates the four topics of one product. */
static int create_product_topics(struct devbroker *broker, const char *product,
                                 char *errstr, size_t errstr_size)
{
    int replicas = broker->brokers < 3 ? broker->brokers : 3;

    for (size_t i = 0; i < sizeof(topic_kinds) / sizeof(topic_kinds[0]); i++) {
        char topic[BS_PRODUCT_MAX + 16];
        rd_kafka_resp_err_t err;

        if (bs_product_topic(product, topic_kinds[i], topic, sizeof(topic)) !=
            BS_OK)
            return bs_fail(errstr, errstr_size, BS_EINVAL,
                           "topic name too long for product %s", product);
        err = rd_kafka_mock_topic_create(broker->cluster, topic,
                                         broker->partitions, replicas);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            return bs_fail(errstr, errstr_size, BS_EKAFKA,
                           "cannot create topic %s: %s", topic,
                           rd_kafka_err2str(err));
        bs_log_info("topic_created topic=%s partitions=%d replicas=%d", topic,
                    broker->partitions, replicas);
    }
    return BS_OK;
}

/* Every product of ALLOWED_PRODUCTS (already validated at start-up). */
static int create_topics(struct devbroker *broker, const char *allowed,
                         char *errstr, size_t errstr_size)
{
    const char *start = allowed;

    for (;;) {
        size_t len = strcspn(start, ",");
        char product[BS_PRODUCT_MAX + 1];
        int result;

        snprintf(product, sizeof(product), "%.*s", (int)len, start);
        result = create_product_topics(broker, product, errstr, errstr_size);
        if (result != BS_OK)
            return result;
        if (start[len] == '\0')
            return BS_OK;
        start += len + 1;
    }
}

/* Writes `text` to path.tmp.<pid>, then renames it over `path`. */
static int write_file_atomically(const char *path, const char *text,
                                 char *errstr, size_t errstr_size)
{
    char tmp[PATH_MAX];
    FILE *file;
    int result = BS_OK;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
        (int)sizeof(tmp))
        return bs_fail(errstr, errstr_size, BS_EINVAL, "path too long: %s",
                       path);
    file = fopen(tmp, "w");
    if (!file)
        return bs_fail(errstr, errstr_size, BS_EIO, "cannot create %s: %s", tmp,
                       strerror(errno));
    if (fprintf(file, "%s\n", text) < 0 || fflush(file) != 0 ||
        fsync(fileno(file)) != 0)
        result = bs_fail(errstr, errstr_size, BS_EIO, "cannot write %s: %s",
                         tmp, strerror(errno));
    if (fclose(file) != 0 && result == BS_OK)
        result = bs_fail(errstr, errstr_size, BS_EIO, "cannot write %s: %s",
                         tmp, strerror(errno));
    if (result == BS_OK && rename(tmp, path) != 0)
        result =
            bs_fail(errstr, errstr_size, BS_EIO, "cannot rename %s to %s: %s",
                    tmp, path, strerror(errno));
    if (result != BS_OK)
        unlink(tmp);
    return result;
}

/* Blocks until SIGTERM or SIGINT (blocked in every thread); returns it. */
static int wait_for_stop(const sigset_t *stop_signals)
{
    int signal_number = 0;

    while (sigwait(stop_signals, &signal_number) != 0)
        ;
    return signal_number;
}

static void stop_cluster(struct devbroker *broker)
{
    if (broker->cluster)
        rd_kafka_mock_cluster_destroy(broker->cluster);
    broker->cluster = NULL;
    if (broker->rk)
        rd_kafka_destroy(broker->rk);
    broker->rk = NULL;
}

static int serve(struct devbroker *broker, const struct bs_program *program,
                 const sigset_t *stop_signals)
{
    const char *bootstrap;
    char errstr[512], quoted[1024];
    int result;

    /* Start the brokers and create every product's topics. */
    result = start_cluster(broker, errstr, sizeof(errstr));
    if (result == BS_OK)
        result = create_topics(
            broker, bs_config_get(program->config, "ALLOWED_PRODUCTS"), errstr,
            sizeof(errstr));
    if (result != BS_OK)
        goto out;

    /* Tell the world where we listen. */
    bootstrap = rd_kafka_mock_cluster_bootstraps(broker->cluster);
    if (broker->bootstrap_file) {
        result = write_file_atomically(broker->bootstrap_file, bootstrap,
                                       errstr, sizeof(errstr));
        if (result != BS_OK)
            goto out;
    }
    bs_log_info(
        "ready bootstrap=%s brokers=%d partitions=%d file=%s", bootstrap,
        broker->brokers, broker->partitions,
        bs_log_quote(broker->bootstrap_file ? broker->bootstrap_file : "-",
                     quoted, sizeof(quoted)));

    /* Serve until told to stop; the stale address goes with us. */
    bs_log_info("stopping signal=%s", strsignal(wait_for_stop(stop_signals)));
    if (broker->bootstrap_file)
        unlink(broker->bootstrap_file);

out:
    if (result != BS_OK)
        bs_log_error("failed error=%s reason=%s", bs_strerror(result),
                     bs_log_quote(errstr, quoted, sizeof(quoted)));
    stop_cluster(broker);
    if (result == BS_OK)
        bs_log_info("stopped");
    return result;
}

int main(int argc, char **argv)
{
    struct devbroker broker = {0};
    struct bs_program program;
    sigset_t stop_signals;
    char errstr[512];
    int exit_code;

    /* Block the stop signals before librdkafka starts threads, so every
     * thread inherits the mask and only sigwait() sees them. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    if (!bs_program_start(&program, SERVICE, usage, vars,
                          sizeof(vars) / sizeof(vars[0]), argc, argv,
                          &exit_code))
        return exit_code;

    if (configure(&broker, &program, argc, argv, errstr, sizeof(errstr)) !=
        BS_OK) {
        fprintf(stderr, "%s: %s\n", SERVICE, errstr);
        exit_code = 2;
    } else {
        exit_code = serve(&broker, &program, &stop_signals) == BS_OK ? 0 : 1;
    }

    bs_program_end(&program);
    return exit_code;
}
