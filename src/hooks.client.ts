import { config } from 'zod/v4/core';

// Zod probes for eval with `new Function` the first time it parses an object. Our CSP forbids
// eval, so the probe fails quietly but still reports a violation on every page; jitless skips it.
config({ jitless: true });
