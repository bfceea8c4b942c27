/* Decoder: crafted frames for each layer, every malformed reason, random bytes, real captures. */
#include <arpa/inet.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"
#include "check.h"
#include "packet_builder.h"

static enum decode_status decode_pb(int linktype, struct pb *p, struct decoded_packet *d)
{
    pb_finish(p);
    return decode_packet(linktype, p->buf, (uint32_t)p->len, (uint32_t)p->len, d);
}

static int addr_is(const uint8_t *addr, int version, const char *text)
{
    uint8_t want[16] = {0};
    inet_pton(version == 4 ? AF_INET : AF_INET6, text, want);
    return memcmp(addr, want, 16) == 0;
}

TEST(decode_ethernet_ipv4_tcp)
{
    struct pb p;
    struct decoded_packet d;
    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, "192.0.2.1", "198.51.100.7", 6);
    pb_tcp(&p, 40000, 443, 0x02);
    pb_bytes(&p, "hello", 5);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_OK);
    CHECK_EQ_U(d.ip_version, 4);
    CHECK_EQ_U(d.l4_proto, 6);
    CHECK_EQ_U(d.src_port, 40000);
    CHECK_EQ_U(d.dst_port, 443);
    CHECK_EQ_U(d.tcp_flags, 0x02);
    CHECK_EQ_U(d.l4_payload_len, 5);
    CHECK(addr_is(d.src_addr, 4, "192.0.2.1"));
    CHECK(addr_is(d.dst_addr, 4, "198.51.100.7"));
    CHECK(d.l3 == p.buf + 14);
    CHECK_EQ_U(d.l3_caplen, p.len - 14);
}

TEST(decode_qinq_keeps_outer_vlan)
{
    struct pb p;
    struct decoded_packet d;
    pb_init(&p);
    pb_ethernet(&p, 0x88A8);
    pb_vlan(&p, 0, 100, 0x8100);
    pb_vlan(&p, 0, 200, 0x0800);
    pb_ipv4(&p, "10.0.0.1", "10.0.0.2", 17);
    pb_udp(&p, 5353, 53);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_OK);
    CHECK_EQ_U(d.vlan, 100);
    CHECK_EQ_U(d.dst_port, 53);
}

TEST(decode_mpls_and_pppoe)
{
    struct pb p;
    struct decoded_packet d;
    pb_init(&p);
    pb_ethernet(&p, 0x8847);
    pb_u32(&p, (16u << 12) | 64);           /* label 16, not bottom */
    pb_u32(&p, (17u << 12) | 0x100 | 64);   /* label 17, bottom of stack */
    pb_ipv4(&p, "10.1.0.1", "10.2.0.1", 17);
    pb_udp(&p, 1000, 2000);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_OK);
    CHECK_EQ_U(d.src_port, 1000);

    pb_init(&p);
    pb_ethernet(&p, 0x8864);
    pb_u8(&p, 0x11);
    pb_u8(&p, 0);
    pb_u16(&p, 0x0001); /* session */
    pb_u16(&p, 0);      /* length (not checked) */
    pb_u16(&p, 0x0057); /* PPP: IPv6 */
    pb_ipv6(&p, "2001:db8::1", "2001:db8::2", 6);
    pb_tcp(&p, 1, 22, 0x10);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_OK);
    CHECK_EQ_U(d.ip_version, 6);
    CHECK_EQ_U(d.dst_port, 22);
}

TEST(decode_ipv6_extension_headers_and_fragments)
{
    struct pb p;
    struct decoded_packet d;
    pb_init(&p);
    pb_ethernet(&p, 0x86DD);
    pb_ipv6(&p, "2001:db8::1", "2001:db8::2", 0); /* hop-by-hop */
    pb_u8(&p, 60);                               /* next: destination options */
    pb_u8(&p, 0);
    pb_bytes(&p, "\1\4\0\0\0\0", 6);
    pb_u8(&p, 44); /* next: fragment */
    pb_u8(&p, 0);
    pb_bytes(&p, "\1\4\0\0\0\0", 6);
    pb_u8(&p, 17); /* fragment header: first fragment, more to come */
    pb_u8(&p, 0);
    pb_u16(&p, 0x0001);
    pb_u32(&p, 0xabcd);
    pb_udp(&p, 3000, 4000);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_OK);
    CHECK_EQ_U(d.l4_proto, 17);
    CHECK(!d.fragment);
    CHECK_EQ_U(d.dst_port, 4000);

    pb_init(&p);
    pb_ethernet(&p, 0x86DD);
    pb_ipv6(&p, "2001:db8::1", "2001:db8::2", 44);
    pb_u8(&p, 17);
    pb_u8(&p, 0);
    pb_u16(&p, 185 << 3); /* offset 1480: a later fragment */
    pb_u32(&p, 0xabcd);
    pb_bytes(&p, "payload-bytes", 13);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_OK);
    CHECK(d.fragment);
    CHECK_EQ_U(d.src_port, 0);

    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, "10.0.0.1", "10.0.0.2", 17);
    p.buf[14 + 6] = 0x00; /* clear DF, set offset 100 */
    p.buf[14 + 7] = 100;
    pb_bytes(&p, "more-payload", 12);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_OK);
    CHECK(d.fragment);
    CHECK_EQ_U(d.dst_port, 0);
}

TEST(decode_gtp_u_with_extension_header)
{
    struct pb p;
    struct decoded_packet d;
    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, "172.16.0.1", "172.16.0.2", 17);
    pb_udp(&p, 2152, 2152);
    pb_u8(&p, 0x34);   /* version 1, PT, E flag */
    pb_u8(&p, 0xFF);   /* T-PDU */
    pb_u16(&p, 0);     /* length (not checked) */
    pb_u32(&p, 42);    /* TEID */
    pb_u16(&p, 0);     /* sequence */
    pb_u8(&p, 0);      /* N-PDU */
    pb_u8(&p, 0x85);   /* next extension: PDU session container */
    pb_u8(&p, 1);      /* its length: 4 bytes */
    pb_u8(&p, 0);
    pb_u8(&p, 9);
    pb_u8(&p, 0);      /* no more extensions */
    pb_ipv4(&p, "10.45.0.5", "8.8.8.8", 17);
    pb_udp(&p, 33333, 53);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_OK);
    CHECK_EQ_U(d.tunnel_depth, 1);
    CHECK(addr_is(d.src_addr, 4, "10.45.0.5"));
    CHECK_EQ_U(d.dst_port, 53);

    /* A GTP-C (not T-PDU) message stays an outer UDP flow. */
    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, "172.16.0.1", "172.16.0.2", 17);
    pb_udp(&p, 2152, 2152);
    pb_u8(&p, 0x30);
    pb_u8(&p, 0x01); /* echo request */
    pb_u16(&p, 0);
    pb_u32(&p, 0);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_OK);
    CHECK_EQ_U(d.tunnel_depth, 0);
    CHECK_EQ_U(d.dst_port, 2152);
}

TEST(decode_vxlan_ipip_6in4)
{
    struct pb p;
    struct decoded_packet d;
    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, "192.0.2.10", "192.0.2.20", 17);
    pb_udp(&p, 50000, 4789);
    pb_u32(&p, 0x08000000);
    pb_u32(&p, 0x00123400);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, "10.9.9.1", "10.9.9.2", 6);
    pb_tcp(&p, 1234, 80, 0x02);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_OK);
    CHECK(addr_is(d.dst_addr, 4, "10.9.9.2"));
    CHECK_EQ_U(d.dst_port, 80);
    CHECK_EQ_U(d.tunnel_depth, 1);

    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, "192.0.2.10", "192.0.2.20", 41); /* 6in4 */
    pb_ipv6(&p, "2001:db8::a", "2001:db8::b", 4); /* with IPv4 inside again */
    pb_ipv4(&p, "10.0.0.1", "10.0.0.2", 17);
    pb_udp(&p, 1, 2);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_OK);
    CHECK_EQ_U(d.tunnel_depth, 2);
    CHECK(addr_is(d.src_addr, 4, "10.0.0.1"));
}

TEST(decode_link_types)
{
    struct pb p;
    struct decoded_packet d;
    /* Linux cooked v1 and v2 */
    pb_init(&p);
    pb_u16(&p, 0);
    pb_u16(&p, 1);
    pb_u16(&p, 6);
    pb_bytes(&p, "\0\0\0\0\0\0\0\0", 8);
    pb_u16(&p, 0x0800);
    pb_ipv4(&p, "10.0.0.1", "10.0.0.2", 17);
    pb_udp(&p, 1, 2);
    CHECK(decode_pb(DLT_LINUX_SLL, &p, &d) == DECODE_OK);

    pb_init(&p);
    pb_u16(&p, 0x86DD);
    pb_bytes(&p, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 18);
    pb_ipv6(&p, "::1", "::2", 17);
    pb_udp(&p, 1, 2);
    CHECK(decode_pb(DLT_LINUX_SLL2, &p, &d) == DECODE_OK);

    /* BSD loopback, both byte orders */
    pb_init(&p);
    pb_bytes(&p, "\2\0\0\0", 4);
    pb_ipv4(&p, "127.0.0.1", "127.0.0.1", 6);
    pb_tcp(&p, 1, 2, 0x02);
    CHECK(decode_pb(DLT_NULL, &p, &d) == DECODE_OK);
    pb_init(&p);
    pb_bytes(&p, "\0\0\0\x1e", 4);
    pb_ipv6(&p, "::1", "::1", 6);
    pb_tcp(&p, 1, 2, 0x02);
    CHECK(decode_pb(DLT_LOOP, &p, &d) == DECODE_OK);

    /* PPP with and without address/control, Cisco HDLC, raw IP */
    pb_init(&p);
    pb_bytes(&p, "\xff\x03\x00\x21", 4);
    pb_ipv4(&p, "10.0.0.1", "10.0.0.2", 17);
    pb_udp(&p, 1, 2);
    CHECK(decode_pb(DLT_PPP, &p, &d) == DECODE_OK);
    pb_init(&p);
    pb_bytes(&p, "\x00\x21", 2);
    pb_ipv4(&p, "10.0.0.1", "10.0.0.2", 17);
    pb_udp(&p, 1, 2);
    CHECK(decode_pb(DLT_PPP, &p, &d) == DECODE_OK);
    pb_init(&p);
    pb_bytes(&p, "\x0f\x00\x08\x00", 4);
    pb_ipv4(&p, "10.0.0.1", "10.0.0.2", 17);
    pb_udp(&p, 1, 2);
    CHECK(decode_pb(DLT_C_HDLC, &p, &d) == DECODE_OK);
    pb_init(&p);
    pb_ipv6(&p, "2001:db8::1", "2001:db8::2", 58);
    pb_bytes(&p, "\x80\0\0\0\0\1\0\1", 8);
    CHECK(decode_pb(DLT_RAW, &p, &d) == DECODE_OK);
    CHECK_EQ_U(d.l4_proto, 58);

    CHECK(!decode_linktype_supported(DLT_IEEE802_11));
    CHECK(decode_packet(DLT_IEEE802_11, p.buf, (uint32_t)p.len, (uint32_t)p.len, &d) ==
          DECODE_BAD_LINKTYPE);
}

TEST(decode_malformed_reasons)
{
    struct pb p;
    struct decoded_packet d;
    pb_init(&p);
    pb_ethernet(&p, 0x0806); /* ARP is fine, just not IP */
    pb_bytes(&p, "\0\1\x08\0\6\4\0\1", 8);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_NOT_IP);

    CHECK(decode_packet(DLT_EN10MB, p.buf, 10, 10, &d) == DECODE_TRUNC_LINK);

    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, "10.0.0.1", "10.0.0.2", 6);
    pb_tcp(&p, 1, 2, 0);
    pb_finish(&p);
    CHECK(decode_packet(DLT_EN10MB, p.buf, 14 + 12, 14 + 12, &d) == DECODE_TRUNC_IP);
    /* Cut inside the TCP header by a snap length: the wire had it, we cannot key it. */
    CHECK(decode_packet(DLT_EN10MB, p.buf, 14 + 20 + 10, (uint32_t)p.len, &d) ==
          DECODE_TRUNC_L4);
    /* IP length larger than what was on the wire. */
    p.buf[14 + 2] = 0x05;
    CHECK(decode_packet(DLT_EN10MB, p.buf, (uint32_t)p.len, (uint32_t)p.len, &d) ==
          DECODE_BAD_IP_LENGTH);
    pb_finish(&p);
    p.buf[14] = 0x44; /* IHL 4 */
    CHECK(decode_packet(DLT_EN10MB, p.buf, (uint32_t)p.len, (uint32_t)p.len, &d) ==
          DECODE_BAD_IP_HEADER);
    p.buf[14] = 0x55; /* version 5 */
    CHECK(decode_packet(DLT_EN10MB, p.buf, (uint32_t)p.len, (uint32_t)p.len, &d) ==
          DECODE_BAD_IP_VERSION);
    p.buf[14] = 0x45;
    p.buf[14 + 20 + 12] = 0x20; /* TCP data offset 2 words */
    CHECK(decode_packet(DLT_EN10MB, p.buf, (uint32_t)p.len, (uint32_t)p.len, &d) ==
          DECODE_TRUNC_L4);

    /* Six levels of IP-in-IP are more than anyone needs. */
    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    for (int i = 0; i < 6; i++)
        pb_ipv4(&p, "10.0.0.1", "10.0.0.2", 4);
    pb_ipv4(&p, "10.0.0.1", "10.0.0.2", 17);
    pb_udp(&p, 1, 2);
    CHECK(decode_pb(DLT_EN10MB, &p, &d) == DECODE_TOO_DEEP);

    for (int s = 0; s < DECODE_STATUS_COUNT; s++)
        CHECK(strcmp(decode_status_name((enum decode_status)s), "unknown") != 0);
}

TEST(decode_snaplen_cut_payload_is_fine)
{
    struct pb p;
    struct decoded_packet d;
    pb_init(&p);
    pb_ethernet(&p, 0x0800);
    pb_ipv4(&p, "10.0.0.1", "10.0.0.2", 17);
    pb_udp(&p, 1, 2);
    for (int i = 0; i < 100; i++)
        pb_u8(&p, (uint8_t)i);
    pb_finish(&p);
    CHECK(decode_packet(DLT_EN10MB, p.buf, 60, (uint32_t)p.len, &d) == DECODE_OK);
    CHECK_EQ_U(d.l3_caplen, 60 - 14);
    CHECK_EQ_U(d.l4_payload_len, 100);
}

/* Random bytes under every link type: the decoder must never read out of bounds (ASan). */
TEST(decode_random_bytes_never_overrun)
{
    static const int linktypes[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW,
                                    DLT_NULL,   DLT_LOOP,      DLT_PPP,        DLT_C_HDLC};
    uint64_t state = 0x9E3779B97F4A7C15ull;
    struct decoded_packet d;
    int ok = 0;
    for (int i = 0; i < 200000; i++) {
        uint8_t *buf;
        uint32_t len;
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        len = (uint32_t)(state % 200);
        buf = malloc(len ? len : 1); /* exact size: any overrun is an ASan report */
        uint64_t r = state;
        for (uint32_t j = 0; j < len; j++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            buf[j] = (uint8_t)(r >> 56);
        }
        /* Make many of them look like IPv4/IPv6 so the deeper layers get exercised too. */
        if (len > 20 && (state & 1))
            buf[(state >> 8) % 20] = (state & 2) ? 0x45 : 0x60;
        int lt = linktypes[(state >> 16) % (sizeof linktypes / sizeof linktypes[0])];
        if (decode_packet(lt, buf, len, len + (uint32_t)((state >> 24) % 3000), &d) == DECODE_OK)
            ok++;
        free(buf);
    }
    CHECK(ok > 0); /* some random frames do decode: the loop really reached the IP layers */
}

struct real_tally {
    unsigned long packets, ok;
};

static void tally_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    struct real_tally *t = ((struct real_tally **)user)[0];
    int linktype = *((int **)user)[1];
    struct decoded_packet d;
    /* An exact-size copy: an overrun of the captured bytes is an ASan report. */
    uint8_t *copy = malloc(h->caplen ? h->caplen : 1);
    memcpy(copy, data, h->caplen);
    t->packets++;
    if (decode_packet(linktype, copy, h->caplen, h->len, &d) == DECODE_OK)
        t->ok++;
    free(copy);
}

static int decode_file(const char *path, struct real_tally *t)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, err);
    if (!p)
        return -1;
    int linktype = pcap_datalink(p);
    void *user[2] = {t, &linktype};
    pcap_loop(p, -1, tally_packet, (u_char *)user);
    pcap_close(p);
    return 0;
}

TEST(decode_every_real_capture)
{
    const char *dir = test_pcap_dir();
    if (!dir) {
        test_skip("../shared/pcaps not present");
        return;
    }
    DIR *dh = opendir(dir);
    CHECK(dh != NULL);
    if (!dh)
        return;
    struct dirent *de;
    struct real_tally all = {0, 0};
    int files = 0;
    while ((de = readdir(dh))) {
        if (!strstr(de->d_name, ".pcap"))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (decode_file(path, &all) == 0)
            files++;
    }
    closedir(dh);
    CHECK(files > 100);
    CHECK(all.packets > 10000);
    CHECK(all.ok > all.packets * 9 / 10); /* real traffic: nearly everything decodes */

    char path[1024];
    struct real_tally one = {0, 0};
    snprintf(path, sizeof path, "%s/443-curl.pcap", dir);
    CHECK(decode_file(path, &one) == 0);
    CHECK_EQ_U(one.packets, 109);
    CHECK_EQ_U(one.ok, 109);
}
