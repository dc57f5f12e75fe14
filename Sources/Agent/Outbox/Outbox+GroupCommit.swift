import FoundationEssentials
import Logging
import SystemCalls

/// Group commit (see ``Outbox``'s contract): producers that arrive while a commit is in
/// progress queue up in ``CommitQueue``; the next commit writes all of them in one transaction
/// (one fsync), and none returns before the transaction holding its rows has committed.
extension Outbox {

    /// Hands `request` to the group commit and blocks until it is committed (or refused).
    ///
    /// Producers that arrive while a commit is in progress queue up; when it ends, one of them
    /// (or the committing thread of ``submit(kind:capturedAt:properties:body:accepted:)``)
    /// commits everything queued in one transaction (one fsync) for all of them. No producer
    /// returns before the transaction holding its rows is committed.
    func commit(_ request: CommitRequest) -> Result<[OutboxEntry], OutboxError> {
        commits.lock()
        commits.append(request)
        commits.broadcast()
        while request.result == nil {
            guard !commits.committing else {
                commits.wait()
                continue
            }
            commitGroupLocked()
        }
        commits.unlock()
        enqueueObserver()
        return request.result ?? .failure(OutboxError(.invalidConfiguration, "no commit result"))
    }

    /// Commits everything pending as one group; called and returns with the queue's lock held
    /// (released during the commit). Submitted messages are accepted, in order, before the
    /// waiting producers are told.
    func commitGroupLocked() {
        commits.committing = true
        let group = commits.takeAll()
        commits.unlock()
        let results = state.withLock { state in commitLocked(&state, group) }
        for (request, result) in zip(group, results) { request.accepted?(result) }
        if group.contains(where: { $0.accepted != nil }) { enqueueObserver() }
        commits.lock()
        for (request, result) in zip(group, results) { request.result = result }
        commits.committing = false
        commits.groups += 1
        commits.broadcast()
    }

    /// The thread that commits submitted messages: sleeps until something is pending, commits
    /// it as one group, until ``close()`` (or the outbox is gone).
    func startCommitter() {
        let commits = self.commits
        let started = CommitQueue.detach { [weak self] in
            commits.lock()
            while true {
                while !commits.stopped, commits.pending.isEmpty || commits.committing { commits.wait() }
                if commits.stopped && commits.pending.isEmpty { break }
                guard let outbox = self else { break }
                outbox.commitGroupLocked()
            }
            commits.committerFinished = true
            commits.broadcast()
            commits.unlock()
        }
        if !started {
            // No thread: commit what is pending on this one (slower, never lost).
            logger.warning("outbox: cannot start the commit thread; submitted messages are committed on the producer's thread")
            commits.lock()
            commits.committerStarted = false
            while !commits.pending.isEmpty {
                if commits.committing { commits.wait() } else { commitGroupLocked() }
            }
            commits.unlock()
        }
    }

    /// Calls `observer` (with the group commit's lock held: it must not call the outbox) each time
    /// a producer joins the queue; for tests that need to know a producer is waiting.
    func observeQueued(_ observer: (@Sendable () -> Void)?) {
        commits.lock()
        commits.queuedObserver = observer
        commits.unlock()
    }

    /// Transactions the group commit made so far (for tests and benchmarks).
    var groupCommits: Int {
        commits.lock()
        defer { commits.unlock() }
        return commits.groups
    }

    /// Commits every request of a group in one transaction; a request that cannot be queued (too
    /// large, sequence exhausted) fails alone and takes no sequence numbers.
    private func commitLocked(_ state: inout State, _ group: [CommitRequest]) -> [Result<[OutboxEntry], OutboxError>] {
        let now = clock()
        if case .memory = state.mode, let retry = state.nextDurableRetry, now >= retry {
            _ = retryDurableLocked(&state, now: now)
        }
        expireIfDue(&state, now: now)
        // Two attempts: if the file fails, the outbox degrades and the group goes to memory with
        // sequence numbers from the memory floor (so the bodies are built again).
        for _ in 0..<2 {
            let quota = state.mode.isDurable ? configuration.quotaBytes : configuration.memoryQuotaBytes
            var next = state.ledger.nextSequence
            var rows: [StoredRow] = []
            var outcomes: [Result<Range<Int>, OutboxError>] = []
            for request in group {
                let count = request.rows.count
                guard next < UInt64(Int64.max) - UInt64(count) else {
                    outcomes.append(.failure(OutboxError(.sequenceExhausted, "the sequence counter reached \(next); move \(path) aside to start again")))
                    continue
                }
                let built = request.rows.enumerated().map { index, pending in
                    StoredRow(seq: next + UInt64(index), kind: pending.kind, capturedAtMilliseconds: pending.capturedAt.millisecondsSince1970,
                              body: pending.body(next + UInt64(index)), properties: pending.properties)
                }
                if let large = built.first(where: { $0.size > quota }) {
                    outcomes.append(.failure(OutboxError(.messageTooLarge, "a \(large.kind?.description ?? "") message of \(large.size) bytes is larger than the whole outbox quota of \(quota) bytes; raise the quota or send smaller messages")))
                    continue
                }
                outcomes.append(.success(rows.count..<(rows.count + count)))
                rows += built
                next += UInt64(count)
            }
            do throws(StoreFailure) {
                if !rows.isEmpty { try commitLocked(&state, rows: rows, quota: quota) }
                return outcomes.map { outcome in
                    outcome.map { range in
                        rows[range].map { row in
                            OutboxEntry(seq: row.seq, kind: row.kind ?? .aggregate,
                                        capturedAt: Date(millisecondsSince1970: row.capturedAtMilliseconds),
                                        properties: OutboxProperties.decode(row.properties) ?? [:], body: row.body)
                        }
                    }
                }
            } catch {
                degradeLocked(&state, failure: error, now: now)
            }
        }
        preconditionFailure("the memory store does not fail")
    }

    /// Plans quota drops for `rows`, commits rows + drops + meta in one transaction, updates the ledger.
    private func commitLocked(_ state: inout State, rows: [StoredRow], quota: Int) throws(StoreFailure) {
        let incoming = rows.reduce(0) { $0 + $1.size }
        let excess = state.ledger.bytes + incoming - quota
        var dropped: [Victim] = []          // stored messages to delete
        var droppedIncoming = Set<UInt64>()  // new messages never stored
        if excess > 0 {
            var covered = 0
            for kind in [OutboxKind.aggregate, .alert] where covered < excess {
                let stored = try state.store.oldest(kind: kind, covering: excess - covered)
                dropped += stored
                covered += stored.reduce(0) { $0 + $1.size }
                // New messages are younger than every stored one: they go after the stored ones.
                for row in rows where covered < excess && row.kind == kind {
                    droppedIncoming.insert(row.seq)
                    covered += row.size
                }
            }
        }
        let kept = droppedIncoming.isEmpty ? rows : rows.filter { !droppedIncoming.contains($0.seq) }
        var drops = state.ledger.drops
        for victim in dropped { drops.add(quota: victim.kind) }
        for row in rows where droppedIncoming.contains(row.seq) { drops.add(quota: row.kind ?? .aggregate) }
        let next = state.ledger.nextSequence + UInt64(rows.count)
        try state.store.commit(insert: kept, delete: dropped.map(\.seq), meta: StoreMeta(nextSequence: next, drops: drops))

        state.ledger.nextSequence = next
        state.ledger.depth += kept.count - dropped.count
        state.ledger.bytes += kept.reduce(0) { $0 + $1.size } - dropped.reduce(0) { $0 + $1.size }
        if !dropped.isEmpty || !droppedIncoming.isEmpty {
            let before = state.ledger.drops
            state.ledger.drops = drops
            let aggregates = drops.quotaAggregates - before.quotaAggregates
            let alerts = drops.quotaAlerts - before.quotaAlerts
            let seqs = dropped.map(\.seq) + droppedIncoming.sorted()
            logger.warning("outbox full (\(state.ledger.bytes + 0) of \(quota) bytes kept): dropped \(aggregates) oldest aggregate(s) and \(alerts) alert(s), seq \(Self.range(seqs)); dropped so far: \(drops.quotaAggregates) aggregates, \(drops.quotaAlerts) alerts",
                           metadata: ["dropped": "\(aggregates + alerts)", "reason": "quota"])
        }
    }
}
