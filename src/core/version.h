/* The version of tapbox: the Makefile's VERSION (-DTAPBOX_VERSION), shown by --version, the
 * status API, /metrics and Lua. */
#ifndef TAPBOX_VERSION_H
#define TAPBOX_VERSION_H

#ifndef TAPBOX_VERSION
#define TAPBOX_VERSION "0.0.0-unknown"
#endif

#endif
