/**
 * V8 settings of the `tsvs` process, applied when this module is evaluated: bin/tsvs.ts imports
 * it first, so they hold before any other module loads (and however node was started:
 * `tsvs start`, `node dist/bin/tsvs.js start`, `npm start`).
 *
 * - `--semi-space-growth-factor=1`: the young generation stays at its initial size (1 MiB per
 *   semi-space) instead of doubling up to 16 MiB per semi-space (32 MiB committed) after the
 *   first burst of surviving allocations: loading the modules at start, or a 100k-flow
 *   `add-flows`, where everything decoded survives until the rule is in. V8 gives that space back
 *   only after seconds of low allocation. Measured with 100k flows (`--bundle add-flows`): RSS
 *   157–160 → 129–132 MiB, idle 74–77 → 66–70 MiB, for ~7% more CPU in `add-flows`.
 *
 * `TSVS_V8_FLAGS` (space-separated V8 flags) replaces the list, e.g. `TSVS_V8_FLAGS=` for V8's
 * defaults.
 */
import { setFlagsFromString } from 'node:v8';

/** The V8 flags `tsvs` runs with unless `TSVS_V8_FLAGS` says otherwise. */
export const DEFAULT_V8_FLAGS: readonly string[] = ['--semi-space-growth-factor=1'];

/** The flags applied at load: `TSVS_V8_FLAGS` split on blanks, or {@link DEFAULT_V8_FLAGS}. */
export const appliedV8Flags: readonly string[] =
  process.env.TSVS_V8_FLAGS === undefined
    ? DEFAULT_V8_FLAGS
    : process.env.TSVS_V8_FLAGS.split(/\s+/).filter((f) => f !== '');

for (const f of appliedV8Flags) setFlagsFromString(f);
