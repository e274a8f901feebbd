// Myers' O(ND) diff over token arrays, and the side-by-side rows the prompt diff view draws.
// Pure and generic: lines for the two columns, words inside a changed line.

export type Op = { type: 'equal' | 'delete' | 'insert'; a: number; b: number }

/** Edit script turning `a` into `b`: indices into `a` (delete/equal) and `b` (insert/equal). */
export function diffSeq<T>(a: readonly T[], b: readonly T[]): Op[] {
  // Trim the common head and tail first: prompts usually differ in a few lines.
  let start = 0
  while (start < a.length && start < b.length && a[start] === b[start]) start++
  let endA = a.length
  let endB = b.length
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--
    endB--
  }
  const head: Op[] = []
  for (let i = 0; i < start; i++) head.push({ type: 'equal', a: i, b: i })
  const tail: Op[] = []
  for (let i = 0; i < a.length - endA; i++) tail.push({ type: 'equal', a: endA + i, b: endB + i })
  const middle = myers(a.slice(start, endA), b.slice(start, endB)).map((op) => ({ ...op, a: op.a + start, b: op.b + start }))
  return [...head, ...middle, ...tail]
}

function myers<T>(a: readonly T[], b: readonly T[]): Op[] {
  const n = a.length
  const m = b.length
  const max = n + m
  if (max === 0) return []
  const offset = max
  const v = new Int32Array(2 * max + 2)
  const trace: Int32Array[] = []
  outer: for (let d = 0; d <= max; d++) {
    trace.push(v.slice())
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1
      let y = x - k
      while (x < n && y < m && a[x] === b[y]) {
        x++
        y++
      }
      v[offset + k] = x
      if (x >= n && y >= m) break outer
    }
  }
  // Walk the trace back from (n, m).
  const ops: Op[] = []
  let x = n
  let y = m
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d]
    const k = x - y
    const prevK = k === -d || (k !== d && vd[offset + k - 1] < vd[offset + k + 1]) ? k + 1 : k - 1
    const prevX = d === 0 ? 0 : vd[offset + prevK]
    const prevY = prevX - prevK
    while (x > prevX && y > prevY) {
      x--
      y--
      ops.push({ type: 'equal', a: x, b: y })
    }
    if (d > 0) {
      if (x === prevX) ops.push({ type: 'insert', a: x, b: --y })
      else ops.push({ type: 'delete', a: --x, b: y })
    }
  }
  return ops.reverse()
}

export type Segment = { text: string; changed: boolean }
export type Side = { line: number; text: string; segments?: Segment[] } | null
export type Row = { kind: 'equal' | 'change' | 'delete' | 'insert'; left: Side; right: Side }

export function splitLines(text: string): string[] {
  if (text === '') return []
  return text.replace(/\r\n?/g, '\n').split('\n')
}

/** Word-level segments of two changed lines, so that a one-word edit stands out. */
export function wordDiff(left: string, right: string): [Segment[], Segment[]] {
  const a = left.split(/(\s+|[{}()[\].,;:!?"'`])/).filter((t) => t !== '')
  const b = right.split(/(\s+|[{}()[\].,;:!?"'`])/).filter((t) => t !== '')
  const l: Segment[] = []
  const r: Segment[] = []
  const push = (list: Segment[], text: string, changed: boolean) => {
    const last = list[list.length - 1]
    if (last && last.changed === changed) last.text += text
    else list.push({ text, changed })
  }
  for (const op of diffSeq(a, b)) {
    if (op.type === 'equal') {
      push(l, a[op.a], false)
      push(r, b[op.b], false)
    } else if (op.type === 'delete') push(l, a[op.a], true)
    else push(r, b[op.b], true)
  }
  return [l, r]
}

/** Side-by-side rows: equal lines face each other; a run of deletions faces the following insertions. */
export function sideBySide(oldText: string, newText: string): Row[] {
  const a = splitLines(oldText)
  const b = splitLines(newText)
  const rows: Row[] = []
  const ops = diffSeq(a, b)
  let i = 0
  while (i < ops.length) {
    const op = ops[i]
    if (op.type === 'equal') {
      rows.push({ kind: 'equal', left: { line: op.a + 1, text: a[op.a] }, right: { line: op.b + 1, text: b[op.b] } })
      i++
      continue
    }
    const dels: number[] = []
    const ins: number[] = []
    while (i < ops.length && ops[i].type !== 'equal') {
      if (ops[i].type === 'delete') dels.push(ops[i].a)
      else ins.push(ops[i].b)
      i++
    }
    for (let j = 0; j < Math.max(dels.length, ins.length); j++) {
      const d = dels[j]
      const s = ins[j]
      if (d !== undefined && s !== undefined) {
        const [ls, rs] = wordDiff(a[d], b[s])
        rows.push({ kind: 'change', left: { line: d + 1, text: a[d], segments: ls }, right: { line: s + 1, text: b[s], segments: rs } })
      } else if (d !== undefined) rows.push({ kind: 'delete', left: { line: d + 1, text: a[d] }, right: null })
      else rows.push({ kind: 'insert', left: null, right: { line: s + 1, text: b[s] } })
    }
  }
  return rows
}

export function diffStats(rows: Row[]): { added: number; removed: number; changed: number } {
  let added = 0
  let removed = 0
  let changed = 0
  for (const r of rows) {
    if (r.kind === 'insert') added++
    else if (r.kind === 'delete') removed++
    else if (r.kind === 'change') changed++
  }
  return { added, removed, changed }
}
