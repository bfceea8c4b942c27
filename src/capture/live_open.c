#include "capture/live_open.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

pcap_t *live_open(const struct live_open *o, bool *missing, char *err, size_t errsize)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    *missing = false;
    pcap_t *p = pcap_create(o->ifname, perr);
    if (!p) {
        snprintf(err, errsize, "%s", perr);
        return NULL;
    }
    pcap_set_snaplen(p, o->snaplen);
    pcap_set_promisc(p, o->promisc);
    pcap_set_immediate_mode(p, 1);
    pcap_set_buffer_size(p, o->buffer_bytes);
    if (o->nano)
        pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
    int rc = pcap_activate(p);
    if (rc < 0) {
        const char *why = pcap_geterr(p);
        *missing = rc == PCAP_ERROR_NO_SUCH_DEVICE || rc == PCAP_ERROR_IFACE_NOT_UP;
        if (*missing)
            snprintf(err, errsize, "interface not present or down%s%s%s", why[0] ? " (" : "", why,
                     why[0] ? ")" : "");
        else
            snprintf(err, errsize, "%s", why[0] ? why : pcap_statustostr(rc));
        pcap_close(p);
        return NULL;
    }
    if (rc > 0)
        log_warn("capture", "%s: %s", o->ifname, pcap_statustostr(rc));
    return p;
}

bool live_retry_failed(struct live_retry *r, const char *why)
{
    if (!strncmp(r->reason, why, sizeof r->reason - 1) && r->reason[0])
        return false;
    snprintf(r->reason, sizeof r->reason, "%s", why[0] ? why : "?");
    return true;
}

void live_retry_recovered(struct live_retry *r) { r->reason[0] = '\0'; }
