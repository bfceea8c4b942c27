/* Live pcap download: GET /api/v1/pcap streams matching packets as a pcap file, bounded in time
 * and size (admins only). */
#ifndef TAPBOX_WEB_PCAP_STREAM_H
#define TAPBOX_WEB_PCAP_STREAM_H

#define WEB_PCAP_STREAMS 2 /* downloads at once (2 MiB of buffers each) */

struct web;
struct web_call;

/* 0: call->res holds the answer (an error); 1: streaming (the transport was handed over). */
int web_pcap_start(struct web_call *c);
/* The server stops: every download ends with what it has. */
void web_pcap_stop_all(struct web *w);

#endif
