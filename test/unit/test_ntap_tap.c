/* tapbox-tap: its options and the capture filter that keeps its own datagrams out. */
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ntap/ntap_crypto.h"
#include "tap/tap_agent.h"
#include "tap/tap_options.h"
#include "check.h"

static int parse(struct tap_options *o, const char *line, char *err, size_t errsize)
{
    char buf[1024], *argv[32];
    int argc = 0;
    snprintf(buf, sizeof buf, "tapbox-tap %s", line);
    for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    tap_options_init(o);
    return tap_options_parse(o, argc, argv, err, errsize);
}

TEST(ntap_tap_options_good)
{
    struct tap_options o;
    char err[256];
    CHECK(parse(&o, "-i eth0 -c 192.0.2.1:4789 -k secret -f tcp -s 128 -B 8 --rate-limit 2.5 "
                    "--mtu 9000 --tap-id 0x2a --stats-interval 5 -v",
                err, sizeof err) == 0);
    CHECK(strcmp(o.interface, "eth0") == 0);
    CHECK(strcmp(o.collector_host, "192.0.2.1") == 0 && o.collector_port == 4789);
    CHECK(strcmp(o.passphrase, "secret") == 0 && !o.pubkey_mode);
    CHECK(strcmp(o.bpf, "tcp") == 0);
    CHECK(o.snaplen == 128 && o.buffer_mib == 8 && o.mtu == 9000 && o.rate_limit_mbit == 2.5);
    CHECK(o.tap_id_set && o.tap_id == 42 && o.stats_interval_s == 5 && o.verbosity == 1);
    tap_options_free(&o);

    CHECK(parse(&o, "-i any -c [2001:db8::1]:5000 "
                    "-K 79A631EEDE1BF9C98F12032CDEADD0E7A079398FC786B88CC846EC89AF85A51A",
                err, sizeof err) == 0);
    CHECK(strcmp(o.collector_host, "2001:db8::1") == 0 && o.collector_port == 5000);
    CHECK(o.pubkey_mode && o.collector_pk[0] == 0x79 && o.collector_pk[31] == 0x1a);
    CHECK(o.snaplen == TAP_DEFAULT_SNAPLEN && o.mtu == TAP_DEFAULT_MTU && !o.tap_id_set);
    tap_options_free(&o);

    CHECK(parse(&o, "-i eth0 -c box.example:4789 -k secret", err, sizeof err) == 0);
    CHECK(strcmp(o.collector_host, "box.example") == 0);
    tap_options_free(&o);

    /* @FILE keeps the key off the command line. */
    char path[] = "/tmp/ntap-key-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, "from a file\n", 12) == 12);
    close(fd);
    char line[256];
    snprintf(line, sizeof line, "-i eth0 -c h:1 -k @%s", path);
    CHECK(parse(&o, line, err, sizeof err) == 0 && strcmp(o.passphrase, "from a file") == 0);
    tap_options_free(&o);
    unlink(path);
}

TEST(ntap_tap_options_bad)
{
    static const struct {
        const char *line, *msg;
    } cases[] = {
        {"-c h:1 -k x", "-i IFACE is required"},
        {"-i eth0 -k x", "-c HOST:PORT is required"},
        {"-i eth0 -c h:1", "a key is required"},
        {"-i eth0 -c h:1 -k x -K 00", "-K"},
        {"-i eth0 -c h:1 -k a -K 79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a",
         "exclude each other"},
        {"-i eth0 -c h -k x", "HOST:PORT"},
        {"-i eth0 -c h:0 -k x", "port 1..65535"},
        {"-i eth0 -c h:70000 -k x", "port 1..65535"},
        {"-i eth0 -c 2001:db8::1:4789 -k x", "brackets"},
        {"-i eth0 -c [2001:db8::1]4789 -k x", "[ADDRESS]:PORT"},
        {"-i eth0 -c h:1 -k x --mtu 100", "--mtu"},
        {"-i eth0 -c h:1 -k x -s 10", "-s"},
        {"-i eth0 -c h:1 -k x -B 0", "-B"},
        {"-i eth0 -c h:1 -k x --rate-limit -1", "--rate-limit"},
        {"-i eth0 -c h:1 -k x --rate-limit fast", "--rate-limit"},
        {"-i eth0 -c h:1 -k x --tap-id 0x100000000", "--tap-id"},
        {"-i eth0 -c h:1 -k x --bogus", "unknown option"},
        {"-i eth0 -c h:1 -k x extra", "unexpected argument"},
        {"-i eth0 -c h:1 -k @/nonexistent/key", "cannot read"},
        {"-i eth0 -c h:1 -k", "needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tap_options o;
        char err[256] = "";
        int rc = parse(&o, cases[i].line, err, sizeof err);
        if (rc == 0 || !strstr(err, cases[i].msg)) {
            fprintf(stderr, "  '%s': rc %d, err '%s', wanted '%s'\n", cases[i].line, rc, err,
                    cases[i].msg);
            check_failures++;
        }
        tap_options_free(&o);
    }
}

/* Does the filter match this frame? */
static int matches(const char *filter, const uint8_t *frame, uint32_t len)
{
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
    struct bpf_program prog;
    int rc = -1;
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) == 0) {
        struct pcap_pkthdr h = {{0, 0}, len, len};
        rc = pcap_offline_filter(&prog, &h, frame) != 0;
        pcap_freecode(&prog);
    } else {
        fprintf(stderr, "  filter '%s': %s\n", filter, pcap_geterr(p));
    }
    pcap_close(p);
    return rc;
}

/* An IPv4 UDP frame (or a non-first fragment of one) to dst:dport. */
static uint32_t ipv4_udp(uint8_t *f, const uint8_t dst[4], uint16_t dport, uint16_t frag_off,
                         uint8_t proto)
{
    memset(f, 0, 64);
    f[12] = 0x08;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[3] = 50;
    ip[6] = (uint8_t)(frag_off >> 8);
    ip[7] = (uint8_t)frag_off;
    ip[8] = 64;
    ip[9] = proto;
    ip[12] = 10, ip[15] = 1;
    memcpy(ip + 16, dst, 4);
    ip[22] = (uint8_t)(dport >> 8), ip[23] = (uint8_t)dport;
    return 64;
}

TEST(ntap_tap_filter_excludes_own_datagrams)
{
    char f[1024];
    uint8_t frame[64];
    const uint8_t collector[4] = {192, 0, 2, 1}, other[4] = {192, 0, 2, 9};
    tap_build_filter(NULL, "192.0.2.1", AF_INET, 4789, f, sizeof f);
    CHECK(matches(f, frame, ipv4_udp(frame, collector, 4789, 0, 17)) == 0); /* ours */
    CHECK(matches(f, frame, ipv4_udp(frame, collector, 4789, 185, 17)) == 0); /* its fragment */
    CHECK(matches(f, frame, ipv4_udp(frame, collector, 53, 0, 17)) == 1);
    CHECK(matches(f, frame, ipv4_udp(frame, other, 4789, 0, 17)) == 1);
    CHECK(matches(f, frame, ipv4_udp(frame, collector, 4789, 0, 6)) == 1); /* TCP */
    CHECK(matches(f, frame, ipv4_udp(frame, collector, 80, 185, 6)) == 1); /* TCP fragment */
    /* With the operator's filter: both apply. */
    tap_build_filter("udp", "192.0.2.1", AF_INET, 4789, f, sizeof f);
    CHECK(matches(f, frame, ipv4_udp(frame, collector, 4789, 0, 17)) == 0);
    CHECK(matches(f, frame, ipv4_udp(frame, collector, 53, 0, 17)) == 1);
    CHECK(matches(f, frame, ipv4_udp(frame, collector, 80, 0, 6)) == 0);
    tap_build_filter("tcp or udp", "2001:db8::1", AF_INET6, 4789, f, sizeof f);
    CHECK(matches(f, frame, ipv4_udp(frame, collector, 4789, 0, 17)) == 1); /* compiles; v4 kept */
}

TEST(ntap_tap_default_id_is_stable)
{
    uint32_t a = tap_default_id("web01", "eth0");
    CHECK(a == tap_default_id("web01", "eth0"));
    CHECK(a != tap_default_id("web02", "eth0"));
    CHECK(a != tap_default_id("web01", "eth1"));
}

/* --genkey: a tap's identity key file is made 0600, never overwritten, read back to the same
 * public key, and refused when others may read it. */
TEST(ntap_tap_genkey_identity_file)
{
    struct tap_options o;
    char err[512], dir[] = "/tmp/tapbox-genkey-XXXXXX", path[600];
    CHECK(parse(&o, "--genkey /tmp/some.key", err, sizeof err) == 0); /* no -i, -c or key */
    CHECK(o.genkey_path && strcmp(o.genkey_path, "/tmp/some.key") == 0);
    tap_options_free(&o);

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/tap.key", dir);
    uint8_t pk[32], pk2[32], sk[32], derived[32], other[32];
    CHECK(ntap_identity_create(path, pk, err, sizeof err) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK_EQ_U(st.st_mode & 0777, 0600);
    CHECK(ntap_identity_create(path, other, err, sizeof err) < 0); /* never replaced */
    CHECK(strstr(err, "exists") != NULL);
    CHECK(ntap_identity_load(path, pk2, sk, err, sizeof err) == 0);
    CHECK(memcmp(pk, pk2, 32) == 0);
    crypto_scalarmult_base(derived, sk);
    CHECK(memcmp(pk, derived, 32) == 0);
    CHECK_EQ_U(ntap_tap_id_of(pk), ntap_tap_id_of(pk2));
    CHECK(chmod(path, 0644) == 0);
    CHECK(ntap_identity_load(path, pk2, sk, err, sizeof err) < 0);
    CHECK(strstr(err, "mode 644") != NULL);
    /* Two keys made apart differ (and so do their ids, but for a 2^-32 chance). */
    char path2[600];
    snprintf(path2, sizeof path2, "%s/tap2.key", dir);
    CHECK(ntap_identity_create(path2, other, err, sizeof err) == 0);
    CHECK(memcmp(pk, other, 32) != 0);
    unlink(path);
    unlink(path2);
    rmdir(dir);
}
