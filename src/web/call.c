/* A call's lifetime: what the API attached to it is freed here, for every transport. */
#include "web/call.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void web_call_release(struct web_call *c)
{
    web_params_free(&c->params);
    web_response_free(&c->res);
    if (c->secret) {
        sodium_memzero(c->secret, strlen(c->secret));
        free(c->secret);
        c->secret = NULL;
    }
}
