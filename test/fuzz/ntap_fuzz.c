/*
 * libFuzzer target for the nTap datagram parser (src/ntap/ntap_rx.c and what it calls: header,
 * replay window, AEAD, records). Build and run: test/fuzz/run.sh [SECONDS].
 *
 * The first input byte picks what the rest is:
 *   0: one raw datagram to a passphrase-mode receiver (header and pre-authentication checks);
 *   1: one raw datagram to a public-key-mode receiver (key-bearing headers, X25519 of junk);
 *   2..255: a script of datagrams to a passphrase-mode receiver, each either raw or *sealed*
 *      with the right key (so the fuzzer reaches the record parser, sessions, the replay
 *      window and the tap table behind the authentication):
 *        [kind u8][len u16 BE][len bytes]...   kind & 1: seal; the bytes are then
 *        tap id (1 byte, few taps so that the cap is hit), session (1), seq (2), plaintext.
 * Built without libFuzzer (-DNTAP_FUZZ_MAIN) it replays files given on the command line.
 */
#include <netinet/in.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntap/ntap_crypto.h"
#include "ntap/ntap_rx.h"

static const uint8_t master[32] = {0x6e, 0x54, 1};
static uint8_t pk[32], sk[32];
static uint64_t sink_packets;

static void on_packet(void *ctx, struct ntap_tap *t, const struct ntap_packet *p, uint64_t ts)
{
    /* Touch every byte the record claims, so that ASan sees any overread. */
    uint8_t x = 0;
    for (uint32_t i = 0; i < p->caplen; i++)
        x ^= p->data[i];
    sink_packets += x + 1u + (ts & 1);
}

static struct ntap_rx *make_rx(int pubkey)
{
    struct ntap_rx_config c;
    memset(&c, 0, sizeof c);
    c.pubkey_mode = pubkey;
    memcpy(c.psk_master, master, 32);
    memcpy(c.pk, pk, 32);
    memcpy(c.sk, sk, 32);
    c.max_taps = 4;
    struct ntap_rx_callbacks cb = {on_packet, NULL, NULL};
    char err[64];
    return ntap_rx_create(&c, &cb, NULL, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        ntap_crypto_init();
        for (int i = 0; i < 32; i++)
            sk[i] = (uint8_t)(0x40 + i);
        crypto_scalarmult_base(pk, sk); /* the key pair of the spec's test vector */
        ready = 1;
    }
    if (size < 1)
        return 0;
    uint64_t now = 1700000000000000ull;
    struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = 0x3412};
    if (data[0] < 2) {
        struct ntap_rx *rx = make_rx(data[0]);
        /* A private copy of exactly size-1 bytes: ASan catches any read past it. */
        uint8_t *d = malloc(size - 1 ? size - 1 : 1);
        memcpy(d, data + 1, size - 1);
        ntap_rx_datagram(rx, d, size - 1, (struct sockaddr *)&from, now);
        free(d);
        ntap_rx_destroy(rx);
        return 0;
    }
    struct ntap_rx *rx = make_rx(0);
    static uint8_t out[NTAP_DATAGRAM_MAX];
    size_t off = 1;
    while (off + 3 <= size) {
        uint8_t kind = data[off];
        size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        const uint8_t *p = data + off;
        off += len;
        now += 1000 * (kind >> 4); /* time moves, sometimes a lot */
        if ((kind & 1) && len >= 4) {
            struct ntap_header h = {NTAP_VERSION, 0, p[0] & 7, p[1] & 3, (uint64_t)p[2] << 8 | p[3]};
            uint8_t key[32];
            ntap_psk_session_key(master, h.tap_id, h.session, key);
            size_t n = ntap_seal(key, &h, NULL, p + 4, len - 4, out);
            uint8_t *d = malloc(n);
            memcpy(d, out, n);
            ntap_rx_datagram(rx, d, n, (struct sockaddr *)&from, now);
            free(d);
        } else {
            uint8_t *d = malloc(len ? len : 1);
            memcpy(d, p, len);
            ntap_rx_datagram(rx, d, len, (struct sockaddr *)&from, now);
            free(d);
        }
    }
    ntap_rx_destroy(rx);
    return 0;
}

#ifdef NTAP_FUZZ_MAIN
/* Without libFuzzer: run each file named on the command line once (corpus regression). */
int main(int argc, char **argv)
{
    static uint8_t buf[1 << 20];
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("%d inputs, %llu packets delivered\n", argc - 1, (unsigned long long)sink_packets);
    return 0;
}
#endif
