/* Inline policies (src/policy): rule parsing and its errors, first-match order, PENDING until L7
 * is final, host/vlan/port/l4 matching, undetected=drop, counters and their carry-over. */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "policy/policy.h"
#include "check.h"

/* A fake nDPI protocol list (ids as in nDPI 4.2). */
static int fake_l7_id(void *ctx, const char *name)
{
    static const struct {
        const char *name;
        int id;
    } table[] = {{"Unknown", 0}, {"DNS", 5},    {"HTTP", 7},      {"BitTorrent", 37},
                 {"TLS", 91},    {"YouTube", 124}, {"Tor", 163}};
    int *calls = ctx;
    if (calls)
        (*calls)++;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcasecmp(table[i].name, name) == 0)
            return table[i].id;
    return -1;
}

static struct policy_set *make_set(const char *const *rules, const char *undetected)
{
    struct policy_set *s = policy_set_create();
    CHECK(s != NULL);
    if (!s)
        return NULL;
    char err[256];
    for (size_t i = 0; rules[i]; i++) {
        err[0] = '\0';
        int rc = policy_set_add(s, rules[i], fake_l7_id, NULL, err, sizeof err);
        if (rc != 0)
            fprintf(stderr, "  rule '%s': %s\n", rules[i], err);
        CHECK(rc == 0);
    }
    if (undetected)
        CHECK(policy_set_undetected(s, undetected, err, sizeof err) == 0);
    return s;
}

/* A TCP/IPv4 flow a:ap <-> b:bp on vlan, L7 not final yet. */
static struct policy_subject v4(const char *a, uint16_t ap, const char *b, uint16_t bp)
{
    struct policy_subject f;
    memset(&f, 0, sizeof f);
    f.ip_version = 4;
    f.l4_proto = 6;
    CHECK(inet_pton(AF_INET, a, f.addr[0]) == 1);
    CHECK(inet_pton(AF_INET, b, f.addr[1]) == 1);
    f.port[0] = ap;
    f.port[1] = bp;
    return f;
}

static struct policy_subject v6(const char *a, uint16_t ap, const char *b, uint16_t bp)
{
    struct policy_subject f;
    memset(&f, 0, sizeof f);
    f.ip_version = 6;
    f.l4_proto = 17;
    CHECK(inet_pton(AF_INET6, a, f.addr[0]) == 1);
    CHECK(inet_pton(AF_INET6, b, f.addr[1]) == 1);
    f.port[0] = ap;
    f.port[1] = bp;
    return f;
}

static void final_l7(struct policy_subject *f, uint16_t master, uint16_t app)
{
    f->l7_final = true;
    f->l7_master = master;
    f->l7_app = app;
}

/* The verdict and deciding rule in one value for compact checks: verdict * 1000 + rule + 1. */
static unsigned decide(const struct policy_set *s, const struct policy_subject *f)
{
    int rule = 12345;
    enum policy_verdict v = policy_decide(s, f, &rule);
    if (v == POLICY_PENDING)
        CHECK(rule == -1);
    return (unsigned)v * 1000u + (unsigned)(rule + 1);
}
#define PENDING 0u
#define PASS(rule) (1000u + (unsigned)((rule) + 1))
#define DROP(rule) (2000u + (unsigned)((rule) + 1))

/* policy_set_add fails, leaves the set as it was, and err contains every one of the words. */
static void check_bad(struct policy_set *s, const char *rule, const char *want1, const char *want2)
{
    char err[256] = "";
    size_t before = policy_rule_count(s);
    int rc = policy_set_add(s, rule, fake_l7_id, NULL, err, sizeof err);
    if (rc == 0 || !strstr(err, want1) || (want2 && !strstr(err, want2)))
        fprintf(stderr, "  rule '%s': rc %d, err '%s' (wanted '%s'%s%s)\n", rule, rc, err, want1,
                want2 ? " and " : "", want2 ? want2 : "");
    CHECK(rc < 0);
    CHECK(strstr(err, want1) != NULL);
    CHECK(!want2 || strstr(err, want2) != NULL);
    CHECK_EQ_U(policy_rule_count(s), before);
}

TEST(policy_parses_good_rules)
{
    struct policy_set *s = policy_set_create();
    CHECK(s != NULL);
    if (!s)
        return;
    char err[256];
    int calls = 0;
    CHECK(policy_set_add(s, "p2p drop proto=bittorrent,TOR", fake_l7_id, &calls, err,
                         sizeof err) == 0);
    CHECK_EQ_U(calls, 2); /* names are resolved at parse time */
    CHECK(policy_set_add(s, "  lab.net-1_x \t pass   host=10.1.2.3,192.168.0.0/16,2001:db8::/32 "
                            " vlan=0,10 port=23,6881-6889 l4=tcp,udp,icmp,icmp6,132  ",
                         fake_l7_id, NULL, err, sizeof err) == 0);
    CHECK(policy_set_add(s, "between drop host=10.0.0.0/8 host=8.8.8.8", NULL, NULL, err,
                         sizeof err) == 0); /* no proto=: the callback is not needed */
    CHECK_EQ_U(policy_rule_count(s), 3);
    const struct policy_rule_stats *r = policy_rule_stats(s, 1);
    CHECK(r && strcmp(r->name, "lab.net-1_x") == 0);
    /* The text as written, whitespace collapsed: the action is always the second word. */
    CHECK(r && strcmp(r->text, "lab.net-1_x pass host=10.1.2.3,192.168.0.0/16,2001:db8::/32 "
                               "vlan=0,10 port=23,6881-6889 l4=tcp,udp,icmp,icmp6,132") == 0);
    CHECK(r && r->flows == 0 && r->packets == 0 && r->bytes == 0);
    CHECK(policy_rule_stats(s, 3) == NULL);

    /* 64 values in a match, 16 matches in a rule, 256 rules: the caps themselves are fine. */
    char big[1024] = "many drop port=";
    for (int i = 1; i <= 64; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s%d", i > 1 ? "," : "", i);
    CHECK(policy_set_add(s, big, fake_l7_id, NULL, err, sizeof err) == 0);
    char wide[512] = "wide drop";
    for (int i = 0; i < 16; i++)
        strcat(wide, " vlan=1");
    CHECK(policy_set_add(s, wide, fake_l7_id, NULL, err, sizeof err) == 0);
    for (int i = (int)policy_rule_count(s); i < 256; i++) {
        char rule[64];
        snprintf(rule, sizeof rule, "r%d drop vlan=%d", i, i);
        CHECK(policy_set_add(s, rule, fake_l7_id, NULL, err, sizeof err) == 0);
    }
    CHECK_EQ_U(policy_rule_count(s), 256);
    check_bad(s, "one-too-many drop vlan=1", "more than 256 rules", NULL);

    /* A long rule keeps a cut text for display. */
    policy_set_destroy(s);
    s = policy_set_create();
    char longrule[2048] = "long drop host=";
    for (int i = 0; i < 60; i++)
        snprintf(longrule + strlen(longrule), sizeof longrule - strlen(longrule),
                 "%s2001:db8:%x::/48", i ? "," : "", i);
    CHECK(policy_set_add(s, longrule, fake_l7_id, NULL, err, sizeof err) == 0);
    r = policy_rule_stats(s, 0);
    CHECK(r && strlen(r->text) == 255 && strcmp(r->text + 252, "...") == 0);
    CHECK(r && strncmp(r->text, longrule, 252) == 0);
    policy_set_destroy(s);
}

TEST(policy_rejects_bad_rules_with_a_reason)
{
    struct policy_set *s = make_set((const char *const[]){"taken drop vlan=5", NULL}, NULL);
    if (!s)
        return;
    check_bad(s, "", "empty rule", NULL);
    check_bad(s, "   \t ", "empty rule", NULL);
    check_bad(s, "bad/name drop vlan=1", "bad rule name 'bad/name'", NULL);
    check_bad(s, "abcdefghijklmnopqrstuvwxyz0123456 drop vlan=1", "bad rule name", NULL);
    check_bad(s, "taken pass vlan=6", "duplicate rule name 'taken'", NULL);
    check_bad(s, "default drop vlan=6", "'default' is reserved for traffic no rule matches", NULL);
    check_bad(s, "lonely", "rule 'lonely' has no action", NULL);
    check_bad(s, "x block vlan=1", "unknown action 'block'", "drop or pass");
    check_bad(s, "x DROP vlan=1", "unknown action 'DROP'", NULL);
    check_bad(s, "x drop", "rule 'x' has no match", NULL);
    check_bad(s, "x drop proto=BitTorent", "unknown protocol 'BitTorent' in proto=", NULL);
    check_bad(s, "x drop proto=Tor,Nope", "unknown protocol 'Nope' in proto=", NULL);
    check_bad(s, "x drop proto=", "no value in proto=", NULL);
    check_bad(s, "x drop proto=Tor,,HTTP", "empty value in proto=", NULL);
    check_bad(s, "x drop port=80,", "empty value in port=", NULL);
    check_bad(s, "x drop ip=1.2.3.4", "unknown match 'ip='", NULL);
    check_bad(s, "x drop 1.2.3.4", "'1.2.3.4' is not a match", NULL);
    check_bad(s, "x drop =5", "'=5' is not a match", NULL);
    check_bad(s, "x drop host=10.0.0.300", "10.0.0.300", "in host=");
    check_bad(s, "x drop host=10.0.0.0/33", "prefix", "in host=");
    check_bad(s, "x drop host=2001:db8::/129", "prefix", "in host=");
    check_bad(s, "x drop vlan=4096", "bad VLAN '4096' in vlan=", NULL);
    check_bad(s, "x drop vlan=-1", "bad VLAN '-1' in vlan=", NULL);
    check_bad(s, "x drop vlan=1x", "bad VLAN '1x' in vlan=", NULL);
    check_bad(s, "x drop port=65536", "bad port '65536' in port=", NULL);
    check_bad(s, "x drop port=99999999999999999999", "bad port '9999", NULL);
    check_bad(s, "x drop port=6889-6881", "bad port range '6889-6881' in port=", NULL);
    check_bad(s, "x drop port=1-", "bad port range '1-' in port=", NULL);
    check_bad(s, "x drop port=-1", "bad port range '-1' in port=", NULL);
    check_bad(s, "x drop l4=sctpx", "unknown L4 protocol 'sctpx' in l4=", NULL);
    check_bad(s, "x drop l4=256", "unknown L4 protocol '256' in l4=", NULL);
    /* A later match's error still names it, after good ones. */
    check_bad(s, "x drop proto=Tor vlan=1 port=abc", "bad port 'abc' in port=", NULL);
    /* No protocol resolver: proto= cannot be parsed. */
    char err[256] = "";
    CHECK(policy_set_add(s, "x drop proto=Tor", NULL, NULL, err, sizeof err) < 0);
    CHECK(strstr(err, "'Tor' in proto=") != NULL);

    /* Caps: 65 values, 17 matches. */
    char big[1024] = "x drop vlan=";
    for (int i = 1; i <= 65; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s%d", i > 1 ? "," : "", i);
    check_bad(s, big, "more than 64 values in vlan=", NULL);
    char hosts[2048] = "x drop host=";
    for (int i = 1; i <= 65; i++)
        snprintf(hosts + strlen(hosts), sizeof hosts - strlen(hosts), "%s10.0.0.%d",
                 i > 1 ? "," : "", i);
    check_bad(s, hosts, "more than 64 values in host=", NULL);
    char wide[512] = "x drop";
    for (int i = 0; i < 17; i++)
        strcat(wide, " vlan=1");
    check_bad(s, wide, "more than 16 matches", NULL);

    /* The undetected setting. */
    CHECK(policy_set_undetected(s, "block", err, sizeof err) < 0 && strstr(err, "'block'"));
    CHECK(policy_set_undetected(s, "Drop", err, sizeof err) < 0 && strstr(err, "pass' or 'drop"));
    bool drop = true;
    policy_default_stats(s, NULL, &drop);
    CHECK(!drop); /* a failed setting changes nothing */
    CHECK(policy_set_undetected(s, "drop", err, sizeof err) == 0);
    policy_default_stats(s, NULL, &drop);
    CHECK(drop);
    CHECK(policy_set_undetected(s, "pass", err, sizeof err) == 0);
    policy_default_stats(s, NULL, &drop);
    CHECK(!drop);

    /* The set still works after all those refusals. */
    struct policy_subject f = v4("10.0.0.1", 1000, "10.0.0.2", 80);
    f.vlan = 5;
    CHECK_EQ_U(decide(s, &f), DROP(0));
    policy_set_destroy(s);
}

TEST(policy_first_match_wins_and_no_match_passes)
{
    struct policy_set *s = make_set(
        (const char *const[]){"admin pass host=10.9.9.9", "lan drop host=10.0.0.0/8 port=23",
                              "telnet pass port=23", "all-vlan7 drop vlan=7", NULL},
        NULL);
    if (!s)
        return;
    struct policy_subject f = v4("10.9.9.9", 40000, "10.1.1.1", 23);
    CHECK_EQ_U(decide(s, &f), PASS(0)); /* rule 1 matches too, but rule 0 is first */
    f = v4("10.2.2.2", 40000, "10.1.1.1", 23);
    CHECK_EQ_U(decide(s, &f), DROP(1));
    f = v4("172.16.0.1", 23, "8.8.8.8", 40000); /* port on either side */
    CHECK_EQ_U(decide(s, &f), PASS(2));
    f = v4("172.16.0.1", 1234, "8.8.8.8", 80);
    CHECK_EQ_U(decide(s, &f), PASS(-1)); /* no rule: default pass, at once */
    f.vlan = 7;
    CHECK_EQ_U(decide(s, &f), DROP(3));
    /* Decisions without proto= never wait for L7, final or not. */
    final_l7(&f, 0, 7);
    CHECK_EQ_U(decide(s, &f), DROP(3));
    int rule = 99;
    CHECK(policy_decide(NULL, &f, &rule) == POLICY_PASS && rule == -1);
    policy_set_destroy(s);
}

TEST(policy_proto_rule_is_pending_until_l7_is_final)
{
    struct policy_set *s = make_set((const char *const[]){"p2p drop proto=BitTorrent,Tor",
                                                          "yt drop proto=youtube vlan=3",
                                                          "lan drop host=192.168.0.0/16", NULL},
                                    NULL);
    if (!s)
        return;
    struct policy_subject f = v4("10.0.0.1", 51413, "1.2.3.4", 6881);
    CHECK_EQ_U(decide(s, &f), PENDING);
    f.l7_app = 37; /* a partial answer is not final */
    CHECK_EQ_U(decide(s, &f), PENDING);
    final_l7(&f, 0, 37);
    CHECK_EQ_U(decide(s, &f), DROP(0));
    final_l7(&f, 0, 163); /* Tor, as app */
    CHECK_EQ_U(decide(s, &f), DROP(0));
    final_l7(&f, 163, 7); /* Tor, as master */
    CHECK_EQ_U(decide(s, &f), DROP(0));
    final_l7(&f, 0, 7); /* HTTP: no rule */
    CHECK_EQ_U(decide(s, &f), PASS(-1));

    /* An earlier undecidable rule blocks a later rule that would match now... */
    f = v4("192.168.1.1", 1000, "1.2.3.4", 80);
    CHECK_EQ_U(decide(s, &f), PENDING);
    final_l7(&f, 0, 7);
    CHECK_EQ_U(decide(s, &f), DROP(2));
    f.l7_app = 37;
    CHECK_EQ_U(decide(s, &f), DROP(0)); /* ... because that earlier rule may win */

    /* A proto rule whose other matches already fail does not block: vlan 3 is needed for "yt"
     * but rule 0 still waits; with only "yt" and "lan" the lan rule decides at once. */
    policy_set_destroy(s);
    s = make_set((const char *const[]){"yt drop proto=YouTube vlan=3",
                                       "lan drop host=192.168.0.0/16", NULL},
                 NULL);
    if (!s)
        return;
    f = v4("192.168.1.1", 1000, "1.2.3.4", 443);
    CHECK_EQ_U(decide(s, &f), DROP(1)); /* vlan 0: "yt" cannot match whatever nDPI says */
    f.vlan = 3;
    CHECK_EQ_U(decide(s, &f), PENDING);
    final_l7(&f, 91, 124); /* TLS.YouTube: the app id matches */
    CHECK_EQ_U(decide(s, &f), DROP(0));
    final_l7(&f, 91, 0); /* TLS only */
    CHECK_EQ_U(decide(s, &f), DROP(1));
    policy_set_destroy(s);

    /* pass rules decide too, and proto=Unknown means "nDPI found nothing". */
    s = make_set((const char *const[]){"web pass proto=HTTP,TLS", "unk drop proto=unknown",
                                       "rest drop l4=tcp", NULL},
                 NULL);
    if (!s)
        return;
    f = v4("10.0.0.1", 1000, "1.2.3.4", 443);
    final_l7(&f, 91, 124);
    CHECK_EQ_U(decide(s, &f), PASS(0));
    final_l7(&f, 0, 0);
    CHECK_EQ_U(decide(s, &f), DROP(1));
    final_l7(&f, 0, 5); /* DNS: master 0 is "no master", not Unknown */
    CHECK_EQ_U(decide(s, &f), DROP(2));
    policy_set_destroy(s);
}

TEST(policy_host_cidrs_v4_and_v6)
{
    struct policy_set *s = make_set(
        (const char *const[]){"h drop host=10.1.2.3,192.168.0.0/16,2001:db8::/32,172.16.0.0/12",
                              NULL},
        NULL);
    if (!s)
        return;
    struct policy_subject f = v4("10.1.2.3", 1, "8.8.8.8", 2);
    CHECK_EQ_U(decide(s, &f), DROP(0));
    f = v4("8.8.8.8", 1, "10.1.2.3", 2); /* either endpoint */
    CHECK_EQ_U(decide(s, &f), DROP(0));
    f = v4("10.1.2.4", 1, "8.8.8.8", 2); /* a /32 is one host */
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    f = v4("192.168.255.254", 1, "8.8.8.8", 2);
    CHECK_EQ_U(decide(s, &f), DROP(0));
    f = v4("192.169.0.1", 1, "8.8.8.8", 2);
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    f = v4("172.31.255.255", 1, "8.8.8.8", 2); /* /12: not a byte boundary */
    CHECK_EQ_U(decide(s, &f), DROP(0));
    f = v4("172.32.0.0", 1, "8.8.8.8", 2);
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    f = v6("2001:db8:ffff::1", 1, "2001:4860::8888", 2);
    CHECK_EQ_U(decide(s, &f), DROP(0));
    f = v6("2001:4860::8888", 1, "2001:db9::1", 2);
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    /* An IPv6 address whose first 4 bytes equal 10.1.2.3 is not that IPv4 host. */
    f = v6("a01:203::", 1, "2001:4860::8888", 2);
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    policy_set_destroy(s);

    /* Two host matches AND: traffic between the two networks. */
    s = make_set((const char *const[]){"between drop host=10.0.0.0/8 host=8.8.8.8", NULL}, NULL);
    if (!s)
        return;
    f = v4("10.1.1.1", 1, "8.8.8.8", 53);
    CHECK_EQ_U(decide(s, &f), DROP(0));
    f = v4("10.1.1.1", 1, "8.8.4.4", 53);
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    policy_set_destroy(s);
}

TEST(policy_vlan_port_ranges_and_l4)
{
    struct policy_set *s = make_set(
        (const char *const[]){"v drop vlan=0,20", "bt drop port=23,6881-6889",
                              "icmp pass l4=icmp,icmp6", "sctp drop l4=132", NULL},
        NULL);
    if (!s)
        return;
    struct policy_subject f = v4("10.0.0.1", 1000, "10.0.0.2", 6885);
    CHECK_EQ_U(decide(s, &f), DROP(0)); /* untagged is vlan 0 */
    f.vlan = 20;
    CHECK_EQ_U(decide(s, &f), DROP(0));
    f.vlan = 10;
    CHECK_EQ_U(decide(s, &f), DROP(1)); /* inside 6881-6889 */
    f.port[1] = 6881;
    CHECK_EQ_U(decide(s, &f), DROP(1));
    f.port[1] = 6889;
    CHECK_EQ_U(decide(s, &f), DROP(1));
    f.port[1] = 6890;
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    f.port[1] = 6880;
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    f.port[0] = 23;
    CHECK_EQ_U(decide(s, &f), DROP(1));
    f.l4_proto = 17;
    CHECK_EQ_U(decide(s, &f), DROP(1)); /* UDP has ports too */
    f.l4_proto = 1; /* ICMP: port= never matches, l4= does */
    CHECK_EQ_U(decide(s, &f), PASS(2));
    f.l4_proto = 58;
    CHECK_EQ_U(decide(s, &f), PASS(2));
    f.l4_proto = 132;
    CHECK_EQ_U(decide(s, &f), DROP(3));
    f.l4_proto = 47;
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    policy_set_destroy(s);
}

TEST(policy_undetected_drop)
{
    struct policy_set *s = make_set((const char *const[]){"ok pass host=10.0.0.53", NULL}, "drop");
    if (!s)
        return;
    struct policy_subject f = v4("10.0.0.1", 1000, "1.2.3.4", 9999);
    CHECK_EQ_U(decide(s, &f), PENDING); /* it may still end Unknown */
    final_l7(&f, 0, 0);
    CHECK_EQ_U(decide(s, &f), DROP(-1));
    final_l7(&f, 0, 7);
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    final_l7(&f, 7, 0);
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    /* A rule that matched wins over the undetected setting, at once. */
    f = v4("10.0.0.53", 53, "10.0.0.1", 1000);
    CHECK_EQ_U(decide(s, &f), PASS(0));
    final_l7(&f, 0, 0);
    CHECK_EQ_U(decide(s, &f), PASS(0));
    struct policy_rule_stats def;
    bool drop = false;
    policy_default_stats(s, &def, &drop);
    CHECK(drop);
    CHECK(strcmp(def.name, "default") == 0 && strcmp(def.text, "undetected=drop") == 0);
    policy_set_destroy(s);

    /* The setting alone, with no rule. */
    s = make_set((const char *const[]){NULL}, "drop");
    if (!s)
        return;
    f = v4("10.0.0.1", 1000, "1.2.3.4", 9999);
    final_l7(&f, 0, 0);
    CHECK_EQ_U(decide(s, &f), DROP(-1));
    CHECK(policy_set_undetected(s, "pass", NULL, 0) == 0);
    CHECK_EQ_U(decide(s, &f), PASS(-1));
    policy_set_destroy(s);
}

TEST(policy_counters_and_carry_over)
{
    const char *const old_rules[] = {"p2p drop proto=BitTorrent", "telnet drop port=23",
                                     "lab pass vlan=9", NULL};
    struct policy_set *old = make_set(old_rules, "drop");
    if (!old)
        return;
    policy_count_flow(old, 0);
    policy_count_packet(old, 0, 100);
    policy_count_packet(old, 0, 1500);
    policy_count_flow(old, 1);
    policy_count_flow(old, 1);
    policy_count_packet(old, 1, 60);
    policy_count_flow(old, 2);
    policy_count_packet(old, 2, 7);
    policy_count_flow(old, -1);
    policy_count_packet(old, -1, 42);
    policy_count_flow(old, 3);      /* out of range: ignored */
    policy_count_packet(old, -2, 1); /* ignored */
    policy_count_flow(NULL, 0);     /* no set: ignored */
    const struct policy_rule_stats *r = policy_rule_stats(old, 0);
    CHECK(r && r->flows == 1 && r->packets == 2 && r->bytes == 1600);
    r = policy_rule_stats(old, 1);
    CHECK(r && r->flows == 2 && r->packets == 1 && r->bytes == 60);
    struct policy_rule_stats def;
    policy_default_stats(old, &def, NULL);
    CHECK(def.flows == 1 && def.packets == 1 && def.bytes == 42);

    /* The reloaded set: p2p same (reformatted, moved), telnet changed, lab renamed, one new. */
    struct policy_set *fresh = make_set(
        (const char *const[]){"new drop vlan=4", "telnet drop port=23,2323",
                              "p2p   drop\tproto=BitTorrent", "lab2 pass vlan=9", NULL},
        "drop");
    if (!fresh) {
        policy_set_destroy(old);
        return;
    }
    policy_set_carry_counters(fresh, old);
    r = policy_rule_stats(fresh, 2);
    CHECK(r && strcmp(r->name, "p2p") == 0 && r->flows == 1 && r->packets == 2 &&
          r->bytes == 1600);
    for (size_t i = 0; i < 4; i++) {
        if (i == 2)
            continue;
        r = policy_rule_stats(fresh, i);
        CHECK(r && r->flows == 0 && r->packets == 0 && r->bytes == 0);
    }
    policy_default_stats(fresh, &def, NULL);
    CHECK(def.flows == 1 && def.bytes == 42); /* same undetected setting: carried */
    /* The old set is untouched. */
    r = policy_rule_stats(old, 0);
    CHECK(r && r->flows == 1 && r->bytes == 1600);

    /* A different undetected setting restarts the default bucket. */
    struct policy_set *other = make_set(old_rules, "pass");
    if (other) {
        policy_set_carry_counters(other, old);
        policy_default_stats(other, &def, NULL);
        CHECK(def.flows == 0 && def.bytes == 0);
        r = policy_rule_stats(other, 1);
        CHECK(r && r->flows == 2 && r->bytes == 60);
        policy_set_destroy(other);
    }
    policy_set_destroy(fresh);
    policy_set_destroy(old);
}

TEST(policy_restore_counters_adds_to_the_same_rule_only)
{
    const char *rules[] = {"web drop port=80", "mail drop port=25", NULL};
    struct policy_set *s = make_set(rules, "drop");
    if (!s)
        return;
    policy_count_flow(s, 0);
    policy_count_packet(s, 0, 100);
    struct policy_rule_stats saved = {.flows = 5, .packets = 50, .bytes = 5000};
    snprintf(saved.name, sizeof saved.name, "web");
    snprintf(saved.text, sizeof saved.text, "%s", policy_rule_stats(s, 0)->text);
    CHECK(policy_set_restore_counters(s, &saved));
    const struct policy_rule_stats *r = policy_rule_stats(s, 0);
    CHECK(r && r->flows == 6 && r->packets == 51 && r->bytes == 5100);
    /* A rule of the same name with another text is another rule: not restored. */
    snprintf(saved.name, sizeof saved.name, "mail");
    snprintf(saved.text, sizeof saved.text, "drop port=587");
    CHECK(!policy_set_restore_counters(s, &saved));
    CHECK(policy_rule_stats(s, 1)->flows == 0);
    /* The default bucket, when its meaning is the same. */
    snprintf(saved.name, sizeof saved.name, "default");
    snprintf(saved.text, sizeof saved.text, "undetected=pass");
    CHECK(!policy_set_restore_counters(s, &saved));
    snprintf(saved.text, sizeof saved.text, "undetected=drop");
    CHECK(policy_set_restore_counters(s, &saved));
    struct policy_rule_stats def;
    policy_default_stats(s, &def, NULL);
    CHECK(def.flows == 5 && def.bytes == 5000);
    policy_set_destroy(s);
}
