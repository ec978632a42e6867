/*
 * wire.h -- the one protobuf-typed entry of wire.c, for gcapi.c: the
 * collector calls read sub-messages of the Result (gc, handles, object,
 * clients, collect, daemon) that gc__result does not carry. Never installed.
 */
#ifndef GCCLIENT_WIRE_H
#define GCCLIENT_WIRE_H

#include "gcd.pb-c.h"
#include "internal.h"

/**
 * Sends op alone in one request and waits for its answer, however long the
 * daemon takes (a collection may run for seconds; the socket has no timeout).
 * On 0 the operation succeeded and *out is the response, results[0] its
 * answer: free it with gcd__wire__response__free_unpacked(). Otherwise the
 * code of the exchange or of the operation, with c->err set and *out NULL.
 */
int gc__wire_call(gc_client *c, Gcd__Wire__Op *op, Gcd__Wire__Response **out);

#endif /* GCCLIENT_WIRE_H */
