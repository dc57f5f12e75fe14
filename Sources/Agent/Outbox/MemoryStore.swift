/// The degraded store: rows in a dictionary, their order in an array read from a moving head, so
/// acknowledging the oldest message (the common case) costs O(1).
final class MemoryStore: OutboxStore {
    private var rows: [UInt64: StoredRow] = [:]
    private var order: [UInt64] = []
    private var head = 0
    /// Whether the rows of the database file were read in when the outbox degraded; if not, the
    /// file still holds messages that must be kept when the outbox goes back to it.
    let adoptedFile: Bool

    init(rows initial: [StoredRow], adoptedFile: Bool) {
        self.adoptedFile = adoptedFile
        for row in initial { insert(row) }
    }

    private func insert(_ row: StoredRow) {
        if rows.updateValue(row, forKey: row.seq) == nil { order.append(row.seq) }
    }

    /// Live sequence numbers, oldest first.
    private var live: some Sequence<UInt64> {
        order[head...].lazy.filter { self.rows[$0] != nil }
    }

    private func compact() {
        while head < order.count, rows[order[head]] == nil { head += 1 }
        if head > 4096, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    func oldest(kind: OutboxKind, covering bytes: Int) -> [Victim] {
        var victims: [Victim] = []
        var covered = 0
        for seq in live {
            guard covered < bytes else { break }
            guard let row = rows[seq], row.kind == kind else { continue }
            victims.append(Victim(seq: seq, kind: kind, size: row.size))
            covered += row.size
        }
        return victims
    }

    func expiredHead(before cutoff: Int64) -> [Victim] {
        var victims: [Victim] = []
        for seq in live {
            guard let row = rows[seq], row.capturedAtMilliseconds < cutoff else { break }
            victims.append(Victim(seq: seq, kind: row.kind ?? .aggregate, size: row.size))
        }
        return victims
    }

    func commit(insert newRows: [StoredRow], delete: [UInt64], meta: StoreMeta) {
        for row in newRows { insert(row) }
        for seq in delete { rows[seq] = nil }
        compact()
    }

    func peek(limit: Int, after: UInt64) -> [StoredRow] {
        var result: [StoredRow] = []
        for seq in live where seq > after {
            guard result.count < limit else { break }
            if let row = rows[seq] { result.append(row) }
        }
        return result
    }

    func remove(_ seqs: [UInt64]) -> [Victim] {
        var removed: [Victim] = []
        for seq in seqs {
            if let row = rows.removeValue(forKey: seq) {
                removed.append(Victim(seq: seq, kind: row.kind ?? .aggregate, size: row.size))
            }
        }
        compact()
        return removed
    }

    func shiftCaptures(fromSequence: UInt64, byMilliseconds milliseconds: Int64) -> Int {
        var shifted = 0
        for seq in Array(live) where seq >= fromSequence {
            rows[seq]?.capturedAtMilliseconds &+= milliseconds
            shifted += 1
        }
        return shifted
    }

    func headCapture() -> Int64? {
        live.first { _ in true }.flatMap { rows[$0]?.capturedAtMilliseconds }
    }

    func allRows() -> [StoredRow] {
        live.compactMap { rows[$0] }
    }
}
