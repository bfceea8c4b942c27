/* Options and config files: values, and errors that name the option or file:line and why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "check.h"

static int parse(struct tapbox_config *c, char *err, size_t errsize, int argc, char **argv)
{
    config_init(c);
    int rc = config_parse_args(c, argc, argv, err, errsize);
    if (rc == 0)
        rc = config_validate(c, err, errsize);
    return rc;
}

#define ARGV(...) ((char *[]){"tapboxd", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"tapboxd", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(c, err, ...) parse(c, err, sizeof err, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

TEST(config_cli_values)
{
    struct tapbox_config c;
    char err[512];
    CHECK(PARSE(&c, err, "-i", "a.pcap", "-ib.pcapng", "--interface=x.pcap", "-m", "10.1.0.0/16",
                "-X", "1000", "--max-hosts=50", "-B", "tcp port 80", "--once", "--flows-out=-",
                "--idle-timeout-udp=5", "-v", "-v") == 0);
    CHECK_EQ_U(c.interface_count, 3);
    CHECK(strcmp(c.interfaces[1], "b.pcapng") == 0);
    CHECK_EQ_U(c.engine.max_flows, 1000);
    CHECK_EQ_U(c.engine.max_hosts, 50);
    CHECK(strcmp(c.bpf, "tcp port 80") == 0);
    CHECK(c.once);
    CHECK_EQ_U(c.engine.idle_timeout_us[FLOW_TIMEOUT_UDP], 5000000);
    CHECK_EQ_U(c.engine.local_networks.count, 1);
    CHECK_EQ_U(c.verbosity, 2);
    config_free(&c);
    CHECK(PARSE(&c, err, "-vv", "-i", "eth0", "--dpi-extra-packets=0") == 0);
    CHECK_EQ_U(c.verbosity, 2);
    CHECK_EQ_U(c.engine.dpi_extra_packets, 0);
    config_free(&c);
    CHECK(PARSE(&c, err, "-vX", "-i", "eth0") < 0); /* X takes a value: not a cluster */
    config_free(&c);
}

TEST(config_cli_errors_name_the_option)
{
    struct tapbox_config c;
    char err[512];
    CHECK(PARSE(&c, err, "-i", "eth0", "--bogus") < 0 && strstr(err, "--bogus"));
    config_free(&c);
    CHECK(PARSE(&c, err, "-i", "eth0", "-X", "abc") < 0 && strstr(err, "'-X'") && strstr(err, "abc"));
    config_free(&c);
    CHECK(PARSE(&c, err, "-i", "eth0", "-X", "0") < 0 && strstr(err, "-X"));
    config_free(&c);
    CHECK(PARSE(&c, err, "-i", "eth0", "--replay=fast") < 0 && strstr(err, "fast"));
    config_free(&c);
    CHECK(PARSE(&c, err, "-i", "eth0", "-m", "10.0.0.0/40") < 0 && strstr(err, "prefix"));
    config_free(&c);
    CHECK(PARSE(&c, err, "-i", "eth0", "-B", "tcp port (") < 0 && strstr(err, "BPF"));
    config_free(&c);
    CHECK(PARSE(&c, err, "-i") < 0 && strstr(err, "needs a value"));
    config_free(&c);
    CHECK(PARSE(&c, err, "--once") < 0 && strstr(err, "no input"));
    config_free(&c);
    CHECK(PARSE(&c, err, "-i", "a.pcap", "--once", "--loop") < 0 && strstr(err, "--loop"));
    config_free(&c);
    CHECK(PARSE(&c, err, "-i", "eth0", "--once") < 0 && strstr(err, "'eth0' is an interface"));
    config_free(&c);
    CHECK(PARSE(&c, err, "-i", "eth0", "--once=yes") < 0 && strstr(err, "takes no value"));
    config_free(&c);
}

static char *write_file(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/tapbox-conf-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    if (write(fd, text, strlen(text)) < 0) {
        close(fd);
        return NULL;
    }
    close(fd);
    return path;
}

TEST(config_file_lines)
{
    struct tapbox_config c;
    char err[512];
    char *path = write_file("# tapbox config\n\n--interface=/srv/a.pcap\n-i=b.pcap\n  -m 192.168.0.0/16  \n"
                            "--max-flows=500 \n--once\n# end\n");
    CHECK(path != NULL);
    if (!path)
        return;
    CHECK(PARSE(&c, err, path) == 0);
    CHECK_EQ_U(c.interface_count, 2);
    CHECK_EQ_U(c.engine.max_flows, 500);
    CHECK(c.once);
    CHECK(c.config_file && strcmp(c.config_file, path) == 0);
    config_free(&c);
    unlink(path);
}

TEST(config_file_errors_name_file_and_line)
{
    struct tapbox_config c;
    char err[512], want[128];
    char *path = write_file("--interface=eth0\n# fine\n--max-flows=lots\n");
    if (!path)
        return;
    snprintf(want, sizeof want, "%s:3", path);
    CHECK(PARSE(&c, err, path) < 0 && strstr(err, want) && strstr(err, "lots"));
    config_free(&c);
    unlink(path);

    path = write_file("--interface=eth0\n--colour=blue\n");
    snprintf(want, sizeof want, "%s:2", path);
    CHECK(PARSE(&c, err, path) < 0 && strstr(err, want) && strstr(err, "--colour"));
    config_free(&c);
    unlink(path);

    path = write_file("interface eth0\n");
    snprintf(want, sizeof want, "%s:1", path);
    CHECK(PARSE(&c, err, path) < 0 && strstr(err, want));
    config_free(&c);
    unlink(path);

    path = write_file("--max-flows\n");
    snprintf(want, sizeof want, "%s:1", path);
    CHECK(PARSE(&c, err, path) < 0 && strstr(err, want) && strstr(err, "needs a value"));
    config_free(&c);
    unlink(path);

    CHECK(PARSE(&c, err, "/nonexistent/tapbox.conf") < 0 && strstr(err, "/nonexistent/tapbox.conf"));
    config_free(&c);
}

TEST(config_history_options)
{
    struct tapbox_config c;
    char err[512];
    CHECK(PARSE(&c, err, "-i", "eth0", "-F", "--history-max-mb=64", "--history-save-s=30",
                "--history-retention=flows:30,hours:400,hosts:7") == 0);
    CHECK(c.history && c.history_max_mb == 64 && c.history_save_s == 30);
    CHECK(c.history_keep.flow_days == 30 && c.history_keep.hour_days == 400 &&
          c.history_keep.host_days == 7 && c.history_keep.minute_days == 0 &&
          c.history_keep.day_days == 0);
    config_free(&c);
    static char *const bad[][2] = {
        {"--history-retention=flows", "KIND:DAYS"},
        {"--history-retention=weeks:3", "'weeks:3'"},
        {"--history-retention=flows:0", "from 1 to 36500"},
        {"--history-retention=flows:3,flows:4", "given twice"},
        {"--history-retention=minutes:x", "'x'"},
        {"--history-save-s=5", "from 10 to 3600"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = PARSE(&c, err, "-i", "eth0", bad[i][0]);
        CHECK(rc < 0 && strstr(err, bad[i][1]));
        if (rc == 0 || !strstr(err, bad[i][1]))
            fprintf(stderr, "  %s: %s\n", bad[i][0], err);
        config_free(&c);
    }
}
