/**
 * Prefix tries for the classifier (ofproto/classifier.ts), after OVS's lib/classifier.c tries:
 * a binary radix tree (path-compressed) of the prefixes that rules match on one field, such as
 * `nw_dst=10.0.0.0/8`. A lookup walks the packet's value down the tree and reports
 *
 * - which prefix lengths have a rule prefix that the value matches (so a subtable whose rules
 *   all match the field with a prefix of a length not in that set cannot match and is skipped),
 * - how many leading bits of the field the walk depended on (`maskbits`): every value that
 *   agrees with the packet's on those bits walks the same path and gets the same answer.
 *
 * `maskbits` follows OVS's definition exactly (it decides the megaflow): 0 for an empty trie;
 * the field width when the walk consumed the whole field; the first mismatching bit's position
 * + 1 when the walk left the tree inside an edge or at a node with a child; the node's length
 * when it left the tree at a leaf. OVS splits edges into 32-bit chunks; a chunk boundary is a
 * node with one child, which gives the same answer as the middle of an edge, so the result does
 * not depend on that.
 *
 * Values are read straight from a flow key (lib/packet/flow-key.ts): the field occupies
 * `bits / 32` consecutive words, most significant bit first, so bit `i` of the field is bit
 * `31 − i % 32` of word `word + ⌊i / 32⌋`.
 */

/** Bits [lo, hi) of a 32-bit word, MSB first (0 ≤ lo < hi ≤ 32). */
function rangeMask(lo: number, hi: number): number {
  const head = 0xffffffff >>> lo;
  return hi >= 32 ? head : (head & ~(0xffffffff >>> hi)) >>> 0;
}

/** Bit `i` (MSB first) of the field starting at `key[word]`. */
function bitAt(key: ArrayLike<number>, word: number, i: number): number {
  return (key[word + (i >>> 5)]! >>> (31 - (i & 31))) & 1;
}

/** No node (node indexes start at 1). */
const NIL = 0;

/**
 * A prefix trie over a field of `bits` bits (a multiple of 32) stored at a word offset of flow
 * keys. It counts prefixes (several rules may share one) and ignores rule versions: a rule is in
 * the trie from its insertion to its removal, visible or not, which only makes lookups more
 * conservative (fewer skips, never a wrong one).
 *
 * Nodes live in typed arrays indexed by node number (1..): a node is a prefix (its value from
 * bit 0, bits beyond its length zero, and the length) with the number of rules having exactly
 * that prefix and two children, by the bit that follows the prefix. A node's edge covers the
 * bits from its parent's length to its own. About 17 bytes a node for 32-bit fields (an object
 * per node took about 70); freed nodes are reused and the arrays shrink back when the trie
 * empties.
 *
 * Inserts are queued (value and length copied into two growable typed arrays) and built into the
 * tree by {@link flush}, which every read calls first: a bundle commit of 100k rules then costs a
 * copy per rule, and the first lookup after it builds the tree once (about 7 ms for 100k /32s;
 * 32-bit fields take a specialised insert without the word loops). Removes flush first, so the
 * per-prefix counts stay exact.
 */
export class PrefixTrie {
  private readonly nWords: number;
  private root = NIL;
  private count = 0;
  /** Nodes allocated so far (the next new index is `used + 1` when no free node). */
  private used = 0;
  /** Head of the free list (linked through {@link c0}). */
  private free = NIL;
  /** Per node: prefix length. */
  private len = new Uint8Array(0);
  /** Per node: rules with exactly this prefix. */
  private cnt = new Int32Array(0);
  /** Per node: the child whose next bit is 0 (or NIL). */
  private c0 = new Int32Array(0);
  /** Per node: the child whose next bit is 1 (or NIL). */
  private c1 = new Int32Array(0);
  /** Per node: `nWords` words of the prefix value, as int32s. */
  private val = new Int32Array(0);
  /** Per prefix length: the generation of the last lookup in which the value matched it. */
  private readonly stamps: Uint32Array;
  /** Queued prefixes (see {@link flush}): their number, lengths and values (`nWords` each). */
  private nPending = 0;
  private pendLen = new Uint8Array(0);
  private pendVal = new Int32Array(0);
  /** The ancestors of the node being removed (a path has at most `bits` + 1 nodes). */
  private readonly path: Int32Array;

  /** @param bits Width of the field in bits: 32, 64, 96 or 128. */
  constructor(readonly bits: number) {
    if (bits <= 0 || bits % 32 !== 0 || bits > 128)
      throw new RangeError(`cls-trie: unsupported field width ${bits}`);
    this.nWords = bits / 32;
    this.stamps = new Uint32Array(bits + 1);
    this.path = new Int32Array(bits + 1);
  }

  /** Number of prefixes stored (with multiplicity). */
  get size(): number {
    return this.count;
  }

  /** Grows the node arrays to hold at least `n` + 1 entries (index 0 unused). */
  private reserve(n: number): void {
    if (n < this.len.length) return;
    const cap = Math.max(4, this.len.length * 2, n + 1);
    const grow = <A extends Uint8Array | Int32Array>(a: A, make: (k: number) => A, k: number) => {
      const b = make(k);
      b.set(a);
      return b;
    };
    this.len = grow(this.len, (k) => new Uint8Array(k), cap);
    this.cnt = grow(this.cnt, (k) => new Int32Array(k), cap);
    this.c0 = grow(this.c0, (k) => new Int32Array(k), cap);
    this.c1 = grow(this.c1, (k) => new Int32Array(k), cap);
    this.val = grow(this.val, (k) => new Int32Array(k), cap * this.nWords);
  }

  /** A new node holding the first `len` bits of the field at `key[word]`, with `n` rules. */
  private newNode(key: ArrayLike<number>, word: number, len: number, n: number): number {
    let node = this.free;
    if (node !== NIL) this.free = this.c0[node]!;
    else {
      node = ++this.used;
      this.reserve(node);
    }
    this.len[node] = len;
    this.cnt[node] = n;
    this.c0[node] = NIL;
    this.c1[node] = NIL;
    const base = node * this.nWords;
    for (let w = 0; w < this.nWords; w++) {
      const lo = w << 5;
      const v = key[word + w]!;
      this.val[base + w] =
        len >= lo + 32 ? v | 0 : len <= lo ? 0 : (v & rangeMask(0, len - lo)) | 0;
    }
    return node;
  }

  /** Returns a node to the free list; the arrays shrink back when the trie is empty. */
  private freeNode(node: number): void {
    this.c0[node] = this.free;
    this.free = node;
    if (this.root === NIL) {
      this.used = 0;
      this.free = NIL;
      this.len = new Uint8Array(0);
      this.cnt = new Int32Array(0);
      this.c0 = new Int32Array(0);
      this.c1 = new Int32Array(0);
      this.val = new Int32Array(0);
    }
  }

  /**
   * First bit in [from, to) where `node`'s value and the field at `key[word]` differ, or `to`
   * when they agree on all of them.
   */
  private firstDiff(
    node: number,
    key: ArrayLike<number>,
    word: number,
    from: number,
    to: number,
  ): number {
    if (from >= to) return to;
    const base = node * this.nWords;
    const last = (to - 1) >>> 5;
    for (let w = from >>> 5; w <= last; w++) {
      const b = w << 5;
      const lo = from > b ? from - b : 0;
      const hi = to < b + 32 ? to - b : 32;
      const x = (this.val[base + w]! ^ key[word + w]!) & rangeMask(lo, hi);
      if (x !== 0) return b + Math.clz32(x);
    }
    return to;
  }

  /** Bit `i` of a node's value. */
  private nodeBit(node: number, i: number): number {
    return (this.val[node * this.nWords + (i >>> 5)]! >>> (31 - (i & 31))) & 1;
  }

  /** Makes `child` the child of `parent` that the key's bit at `ofs` selects (or the root). */
  private link(
    parent: number,
    key: ArrayLike<number>,
    word: number,
    ofs: number,
    child: number,
  ): void {
    if (parent === NIL) this.root = child;
    else if (bitAt(key, word, ofs) === 0) this.c0[parent] = child;
    else this.c1[parent] = child;
  }

  /**
   * Adds one rule's prefix: the first `plen` bits (1 ≤ plen ≤ {@link bits}) of the field at
   * `key[word]` (bits beyond `plen` are ignored).
   */
  insert(key: ArrayLike<number>, word: number, plen: number): void {
    if (plen <= 0 || plen > this.bits) throw new RangeError(`cls-trie: prefix length ${plen}`);
    this.count++;
    // Queued: the tree is built on the next read ({@link flush}).
    const i = this.nPending++;
    if (i >= this.pendLen.length) {
      const cap = Math.max(16, this.pendLen.length * 2);
      const l = new Uint8Array(cap);
      l.set(this.pendLen);
      this.pendLen = l;
      const v = new Int32Array(cap * this.nWords);
      v.set(this.pendVal);
      this.pendVal = v;
    }
    this.pendLen[i] = plen;
    const base = i * this.nWords;
    for (let w = 0; w < this.nWords; w++) this.pendVal[base + w] = key[word + w]! | 0;
  }

  /**
   * Builds the queued prefixes into the tree. Every read ({@link lookup}, {@link remove},
   * {@link prefixes}, {@link nodeCount}) calls it first, so a bulk insert (a bundle commit of
   * many rules) costs a copy per rule until the first lookup that needs the tree.
   */
  flush(): void {
    const n = this.nPending;
    if (n === 0) return;
    this.nPending = 0;
    const lens = this.pendLen;
    const vals = this.pendVal;
    // Dropped before building, so a re-entrant insert cannot see stale entries.
    this.pendLen = new Uint8Array(0);
    this.pendVal = new Int32Array(0);
    if (this.nWords === 1) for (let i = 0; i < n; i++) this.insert32(vals[i]!, lens[i]!);
    else for (let i = 0; i < n; i++) this.insertNow(vals, i * this.nWords, lens[i]!);
  }

  /** Builds one prefix (the first `plen` bits of the field at `key[word]`) into the tree. */
  private insertNow(key: ArrayLike<number>, word: number, plen: number): void {
    let parent = NIL;
    let node = this.root;
    let ofs = 0;
    for (;;) {
      if (node === NIL) {
        this.link(parent, key, word, ofs, this.newNode(key, word, plen, 1));
        return;
      }
      const nlen = this.len[node]!;
      const stop = nlen < plen ? nlen : plen;
      const d = this.firstDiff(node, key, word, ofs, stop);
      if (d < stop) {
        // Diverges inside the edge: a branch node at d with the old node and a new leaf.
        const branch = this.newNode(key, word, d, 0);
        const leaf = this.newNode(key, word, plen, 1);
        if (bitAt(key, word, d) === 0) {
          this.c0[branch] = leaf;
          this.c1[branch] = node;
        } else {
          this.c0[branch] = node;
          this.c1[branch] = leaf;
        }
        this.link(parent, key, word, ofs, branch);
        return;
      }
      if (plen < nlen) {
        // The new prefix ends inside the edge: a node of its own above the old one.
        const above = this.newNode(key, word, plen, 1);
        if (this.nodeBit(node, plen) === 0) this.c0[above] = node;
        else this.c1[above] = node;
        this.link(parent, key, word, ofs, above);
        return;
      }
      if (plen === nlen) {
        this.cnt[node]!++;
        return;
      }
      ofs = nlen;
      parent = node;
      node = bitAt(key, word, ofs) === 0 ? this.c0[node]! : this.c1[node]!;
    }
  }

  /** A new node for a 32-bit field: the first `len` bits of `v`, with `n` rules. */
  private newNode32(v: number, len: number, n: number): number {
    let node = this.free;
    if (node !== NIL) this.free = this.c0[node]!;
    else {
      node = ++this.used;
      if (node >= this.len.length) this.reserve(node);
    }
    this.len[node] = len;
    this.cnt[node] = n;
    this.c0[node] = NIL;
    this.c1[node] = NIL;
    this.val[node] = len >= 32 ? v : v & ~(0xffffffff >>> len);
    return node;
  }

  /** {@link insertNow} for a 32-bit field (`v` as an int32), without the word loops. */
  private insert32(v: number, plen: number): void {
    let parent = NIL;
    let node = this.root;
    let ofs = 0;
    for (;;) {
      if (node === NIL) {
        const leaf = this.newNode32(v, plen, 1);
        if (parent === NIL) this.root = leaf;
        else if (((v >>> (31 - ofs)) & 1) === 0) this.c0[parent] = leaf;
        else this.c1[parent] = leaf;
        return;
      }
      const nlen = this.len[node]!;
      const stop = nlen < plen ? nlen : plen;
      // First bit in [ofs, stop) where the node's value and v differ (stop when none).
      let d = stop;
      if (stop > ofs) {
        const m = (0xffffffff >>> ofs) & (stop >= 32 ? 0xffffffff : ~(0xffffffff >>> stop));
        const x = (this.val[node]! ^ v) & m;
        if (x !== 0) d = Math.clz32(x);
      }
      let top: number;
      if (d < stop) {
        // Diverges inside the edge: a branch node at d with the old node and a new leaf.
        top = this.newNode32(v, d, 0);
        const leaf = this.newNode32(v, plen, 1);
        if (((v >>> (31 - d)) & 1) === 0) {
          this.c0[top] = leaf;
          this.c1[top] = node;
        } else {
          this.c0[top] = node;
          this.c1[top] = leaf;
        }
      } else if (plen < nlen) {
        // The new prefix ends inside the edge: a node of its own above the old one.
        top = this.newNode32(v, plen, 1);
        if (((this.val[node]! >>> (31 - plen)) & 1) === 0) this.c0[top] = node;
        else this.c1[top] = node;
      } else if (plen === nlen) {
        this.cnt[node]!++;
        return;
      } else {
        ofs = nlen;
        parent = node;
        node = ((v >>> (31 - ofs)) & 1) === 0 ? this.c0[node]! : this.c1[node]!;
        continue;
      }
      if (parent === NIL) this.root = top;
      else if (((v >>> (31 - ofs)) & 1) === 0) this.c0[parent] = top;
      else this.c1[parent] = top;
      return;
    }
  }

  /**
   * Drops one rule's prefix (as given to {@link insert}); prunes nodes left without rules and
   * with at most one child. Returns false when the prefix was not stored.
   */
  remove(key: ArrayLike<number>, word: number, plen: number): boolean {
    if (this.nPending !== 0) this.flush();
    const path = this.path;
    let depth = 0;
    let node = this.root;
    let ofs = 0;
    while (node !== NIL) {
      const nlen = this.len[node]!;
      if (nlen > plen || this.firstDiff(node, key, word, ofs, nlen) < nlen) return false;
      if (nlen === plen) break;
      path[depth++] = node;
      ofs = nlen;
      node = bitAt(key, word, ofs) === 0 ? this.c0[node]! : this.c1[node]!;
    }
    if (node === NIL || this.cnt[node] === 0) return false;
    this.cnt[node]!--;
    this.count--;
    // Prune upwards: a node without rules and with at most one child is replaced by that child
    // (every node's value holds its whole prefix from bit 0, so nothing needs recombining).
    let cur = node;
    for (;;) {
      const a = this.c0[cur]!;
      const b = this.c1[cur]!;
      if (this.cnt[cur]! > 0 || (a !== NIL && b !== NIL)) return true;
      const next = a !== NIL ? a : b;
      const parent = depth > 0 ? path[--depth]! : NIL;
      if (parent === NIL) this.root = next;
      else if (this.c0[parent] === cur) this.c0[parent] = next;
      else this.c1[parent] = next;
      this.freeNode(cur);
      if (next !== NIL || parent === NIL) return true;
      cur = parent;
    }
  }

  /**
   * Walks the field at `key[word]` down the trie. Marks, for generation `gen`, every prefix
   * length at which a stored prefix equals the value's (read back with {@link matched}), and
   * returns `maskbits`, the number of leading bits of the field the answer depends on (see the
   * module comment).
   */
  lookup(key: ArrayLike<number>, word: number, gen: number): number {
    if (this.nPending !== 0) this.flush();
    if (this.nWords === 1) return this.lookup32(key[word]! | 0, gen);
    const stamps = this.stamps;
    let node = this.root;
    let prev = NIL;
    let ofs = 0;
    while (node !== NIL) {
      const nlen = this.len[node]!;
      const d = this.firstDiff(node, key, word, ofs, nlen);
      if (d < nlen) return d + 1;
      ofs = nlen;
      if (this.cnt[node]! > 0) stamps[ofs] = gen;
      if (ofs >= this.bits) return this.bits;
      prev = node;
      node = bitAt(key, word, ofs) === 0 ? this.c0[node]! : this.c1[node]!;
    }
    return prev === NIL || (this.c0[prev] === NIL && this.c1[prev] === NIL) ? ofs : ofs + 1;
  }

  /** {@link lookup} for a 32-bit field, without the word loops (the common case). */
  private lookup32(v: number, gen: number): number {
    const stamps = this.stamps;
    const lens = this.len;
    const vals = this.val;
    const c0 = this.c0;
    const c1 = this.c1;
    let node = this.root;
    let prev = NIL;
    let ofs = 0;
    while (node !== NIL) {
      const nlen = lens[node]!;
      if (nlen > ofs) {
        // Bits [ofs, nlen) of the node's value against the packet's.
        const m = nlen >= 32 ? 0xffffffff >>> ofs : (0xffffffff >>> ofs) & ~(0xffffffff >>> nlen);
        const x = (vals[node]! ^ v) & m; // int32: non-zero iff some bit differs
        if (x !== 0) return Math.clz32(x) + 1;
      }
      ofs = nlen;
      if (this.cnt[node]! > 0) stamps[ofs] = gen;
      if (ofs >= 32) return 32;
      prev = node;
      node = ((v >>> (31 - ofs)) & 1) === 0 ? c0[node]! : c1[node]!;
    }
    return prev === NIL || (c0[prev] === NIL && c1[prev] === NIL) ? ofs : ofs + 1;
  }

  /** True when the {@link lookup} of generation `gen` found a stored prefix of length `plen`. */
  matched(plen: number, gen: number): boolean {
    return this.stamps[plen] === gen;
  }

  /** Every stored prefix as [value words, length, count], for tests and debugging. */
  *prefixes(): IterableIterator<[number[], number, number]> {
    this.flush();
    const stack: number[] = this.root !== NIL ? [this.root] : [];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (this.cnt[n]! > 0) {
        const ws: number[] = [];
        for (let w = 0; w < this.nWords; w++) ws.push(this.val[n * this.nWords + w]! >>> 0);
        yield [ws, this.len[n]!, this.cnt[n]!];
      }
      if (this.c1[n] !== NIL) stack.push(this.c1[n]!);
      if (this.c0[n] !== NIL) stack.push(this.c0[n]!);
    }
  }

  /** Nodes in use (for tests: pruning leaves no garbage). */
  get nodeCount(): number {
    this.flush();
    let free = 0;
    for (let n = this.free; n !== NIL; n = this.c0[n]!) free++;
    return this.used - free;
  }
}
