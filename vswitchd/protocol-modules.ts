/**
 * The control protocols every bridge runs (see bridge-protocol.ts). Each module adds itself
 * here: BFD (protocols/bfd, wired in vswitchd/bfd.ts), STP (protocols/stp, vswitchd/stp.ts).
 */
import { bfdModule } from './bfd.js';
import type { BridgeProtocolModule } from './bridge-protocol.js';
import { stpModule } from './stp.js';
import { BOND_MODULE } from './bond.js';

/** The modules `tsvs start` runs, in the order xlate offers them frames. */
export const PROTOCOL_MODULES: readonly BridgeProtocolModule[] = [
  bfdModule,
  stpModule,
  BOND_MODULE,
];
