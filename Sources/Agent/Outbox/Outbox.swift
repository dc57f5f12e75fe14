import FoundationEssentials
import Logging
import SystemCalls

/// The durable, bounded, at-least-once queue between the agent's telemetry and the hub link.
///
/// Every telemetry aggregate and alert is enqueued *before* it is sent and acknowledged (deleted)
/// only after its PUBACK, so a restart, kill -9 or a link that is down for days loses nothing
/// that fits in the quota.
///
/// ## Contract
/// - **Sequence numbers** are persisted with each message (`meta.next_seq`): increasing across
///   restarts and never reused, even after the messages are acknowledged and deleted. When the
///   durable counter is unknown (the file was corrupt, or the outbox runs in memory), numbering
///   jumps to a floor of `milliseconds since 1970 × 1000`, so a number the hub has seen is not
///   issued again (this holds below 1,000 messages per millisecond).
/// - **Durability**: ``enqueue(kind:capturedAt:properties:body:)`` returns after the commit; with
///   ``OutboxConfiguration/Synchronous/full`` (the default) that commit is fsynced.
/// - **Bounds**: over ``OutboxConfiguration/quotaBytes`` the oldest aggregates are dropped first,
///   alerts only when no aggregate is left; messages older than
///   ``OutboxConfiguration/maximumAge`` are dropped from the head of the queue. Every drop is
///   counted in ``OutboxStatistics/drops`` (persisted) and logged as a warning.
/// - **Recovery**: a corrupt file is moved aside (`outbox.db.corrupt-<UTC time>`, with its
///   `-wal` and `-shm`) and a fresh one opened; a full disk or an unusable state directory
///   degrades to memory (``OutboxMode/memory(reason:)``), logged as an error, with the same API,
///   and the file is tried again every ``OutboxConfiguration/durableRetryInterval`` or on
///   ``retryDurable()``. Only caller mistakes throw.
/// - **Threads**: every method may be called from any thread; calls are serialized by one lock
///   and block for the duration of the SQLite work (a commit, with `FULL`, one fsync).
/// - **Group commit**: enqueues from producers that arrive while a commit is in progress are
///   committed together in the next transaction (one fsync for all); each producer returns only
///   after the transaction holding its messages is committed.
/// - One process per file: the ledger (depth, bytes) is kept in memory, read from the file at open.
public final class Outbox: Sendable {
    public let directory: StateDirectory
    public let configuration: OutboxConfiguration
    /// The database file (which may not exist while degraded).
    public let path: String
    let clock: @Sendable () -> Date
    let logger: Logger
    let state: BlockingMutex<State>
    let enqueueObserver = CallbackSlot<Void>()
    let commits = CommitQueue()

    deinit {
        commits.lock()
        commits.stopped = true
        commits.broadcast()
        commits.unlock()
    }

    struct Ledger {
        var nextSequence: UInt64
        var drops: OutboxDrops
        var depth: Int
        var bytes: Int
    }

    /// Reached only inside `state.withLock`; the stores are classes confined to that lock, which
    /// is what the `@unchecked` stands for (and what lets a caller's non-`Sendable` body builder
    /// run under the lock).
    struct State: @unchecked Sendable {
        var store: any OutboxStore
        var mode: OutboxMode
        var ledger: Ledger
        /// Drop counters when the outbox degraded without reading the file's rows (merged back).
        var dropsAtDegrade = OutboxDrops()
        var nextDurableRetry: Date?
        var nextExpiryCheck: Date = .distantPast
    }

    /// Opens the outbox in `directory`: durable if it can, otherwise in memory (see the contract).
    ///
    /// - Parameters:
    ///   - clock: wall-clock time, for capture ages, expiry and retry times (injected for tests).
    ///   - logger: where drops, recovery and degradation are reported (`feature: outbox`).
    /// - Throws: ``OutboxError/Code/invalidConfiguration`` listing every invalid setting.
    public init(directory: StateDirectory, configuration: OutboxConfiguration = OutboxConfiguration(),
                clock: @escaping @Sendable () -> Date = { Date() }, logger: Logger) throws(OutboxError) {
        let issues = configuration.validate()
        guard issues.isEmpty else {
            throw OutboxError(.invalidConfiguration, issues.joined(separator: "; "))
        }
        self.directory = directory
        self.configuration = configuration
        self.path = directory.file(configuration.fileName)
        self.clock = clock
        var logger = logger
        logger[metadataKey: "feature"] = "outbox"
        self.logger = logger

        let now = clock()
        let initial: State
        switch Self.openDurable(directory: directory, path: path, configuration: configuration, now: now,
                                logger: logger) {
        case let .success((store, contents)):
            initial = State(store: store, mode: .durable(path: path),
                            ledger: Ledger(nextSequence: contents.meta.nextSequence, drops: contents.meta.drops,
                                           depth: contents.depth, bytes: contents.bytes))
        case let .failure(failure):
            let reason = failure.reason
            logger.error("outbox degraded to MEMORY, queued messages will not survive a restart: \(reason); holding up to \(configuration.memoryQuotaBytes) bytes in RAM, trying \(path) again every \(configuration.durableRetryInterval)")
            initial = State(store: MemoryStore(rows: [], adoptedFile: false), mode: .memory(reason: reason),
                            ledger: Ledger(nextSequence: Self.sequenceFloor(now), drops: OutboxDrops(), depth: 0, bytes: 0),
                            nextDurableRetry: now + configuration.durableRetryInterval.timeInterval)
        }
        state = BlockingMutex(initial)
    }

    // MARK: Enqueue

    /// Calls `observer` after every enqueue (on the enqueuing thread, outside the outbox's lock),
    /// so a reader such as the hub link can sleep until there is something new instead of
    /// polling. One observer; a later call replaces it, nil removes it.
    public func observeEnqueue(_ observer: (@Sendable () -> Void)?) {
        if let observer { enqueueObserver.set { _ in observer() } } else { enqueueObserver.set(nil) }
    }

    /// Queues one message durably and returns it with its sequence number.
    ///
    /// - Parameter body: builds the payload for the assigned sequence number (the telemetry JSON
    ///   embeds it); called under the outbox's lock, possibly on another producer's thread (the
    ///   one committing the group), so keep it quick and don't call the outbox.
    /// - Throws: ``OutboxError/Code/messageTooLarge`` when the message exceeds the quota,
    ///   ``OutboxError/Code/propertyTooLong``. Storage failures do not throw (see the contract).
    @discardableResult
    public func enqueue(kind: OutboxKind, capturedAt: Date, properties: OutboxProperties = [:],
                        body: (UInt64) -> [UInt8]) throws(OutboxError) -> OutboxEntry {
        let encoded = try properties.encoded()
        // The producer blocks in `commit` until its group is committed, so the builder outlives
        // every call the committing thread makes to it.
        let result = withoutActuallyEscaping(body) { body in
            commit(CommitRequest([PendingRow(kind: kind, capturedAt: capturedAt, properties: encoded, body: body)]))
        }
        guard let entry = try result.get().first else {
            preconditionFailure("a commit returns one entry per row")
        }
        return entry
    }

    /// Queues many messages in one transaction (one fsync): the way to thousands per second.
    /// Entries come back in the batch's order, with consecutive sequence numbers.
    public func enqueue(batch: [OutboxDraft]) throws(OutboxError) -> [OutboxEntry] {
        guard !batch.isEmpty else { return [] }
        var rows: [PendingRow] = []
        rows.reserveCapacity(batch.count)
        for draft in batch {
            rows.append(PendingRow(kind: draft.kind, capturedAt: draft.capturedAt, properties: try draft.properties.encoded(),
                                   body: draft.body))
        }
        return try commit(CommitRequest(rows)).get()
    }

    /// Queues one message for the next group commit and returns at once (unless
    /// ``OutboxConfiguration/maximumPending`` messages wait already, then it waits for room):
    /// the way a single producer reaches thousands per second, sampling while the previous group
    /// is committed. `accepted` is called after the commit, on the outbox's committing thread, in
    /// sequence order, with the entry or why it was refused; until then the message is not
    /// accepted (not durable, not visible to ``peek(limit:after:)``). `accepted` runs before the
    /// next group may commit: keep it quick and don't enqueue from it.
    ///
    /// - Parameter body: builds the payload for the assigned sequence number, on the committing
    ///   thread under the outbox's lock (keep it quick, don't call the outbox).
    public func submit(kind: OutboxKind, capturedAt: Date, properties: OutboxProperties = [:],
                       body: @escaping @Sendable (UInt64) -> [UInt8],
                       accepted: @escaping @Sendable (Result<OutboxEntry, OutboxError>) -> Void) {
        let encoded: [UInt8]
        do { encoded = try properties.encoded() } catch {
            accepted(.failure(error))
            return
        }
        let request = CommitRequest([PendingRow(kind: kind, capturedAt: capturedAt, properties: encoded, body: body)])
        request.accepted = { result in accepted(result.map { $0[0] }) }
        commits.lock()
        while commits.pendingRows >= configuration.maximumPending, !commits.stopped { commits.wait() }
        if commits.stopped {
            // Closed: no committing thread any more; commit on this one.
            commits.unlock()
            _ = commit(request)
            return
        }
        commits.append(request)
        if !commits.committerStarted {
            commits.committerStarted = true
            commits.unlock()
            startCommitter()
        } else {
            commits.broadcast()
            commits.unlock()
        }
    }

    /// Returns once every message submitted before the call is committed and its `accepted`
    /// has run.
    public func waitForSubmitted() {
        _ = commit(CommitRequest([]))
    }

    // MARK: Expiry

    /// Drops messages at the head of the queue captured more than ``OutboxConfiguration/maximumAge``
    /// ago; returns how many. Runs by itself at most once a second during `enqueue` and `peek`.
    ///
    /// The queue is walked from its head (oldest sequence number) and the walk stops at the first
    /// message young enough: capture order is queue order for the agent's messages, and this
    /// keeps expiry O(dropped) instead of a scan of the whole file.
    @discardableResult
    public func dropExpired() -> Int {
        state.withLock { state in expireLocked(&state, now: clock()) }
    }

    func expireIfDue(_ state: inout State, now: Date) {
        guard now >= state.nextExpiryCheck else { return }
        state.nextExpiryCheck = now + 1
        expireLocked(&state, now: now)
    }

    @discardableResult
    private func expireLocked(_ state: inout State, now: Date) -> Int {
        let cutoff = (now - configuration.maximumAge.timeInterval).millisecondsSince1970
        for _ in 0..<2 {
            do throws(StoreFailure) {
                let victims = try state.store.expiredHead(before: cutoff)
                guard !victims.isEmpty else { return 0 }
                var drops = state.ledger.drops
                for victim in victims { drops.add(expired: victim.kind) }
                try state.store.commit(insert: [], delete: victims.map(\.seq),
                                       meta: StoreMeta(nextSequence: state.ledger.nextSequence, drops: drops))
                state.ledger.drops = drops
                removeFromLedger(&state, victims)
                let alerts = victims.count { $0.kind == .alert }
                logger.warning("outbox: dropped \(victims.count - alerts) aggregate(s) and \(alerts) alert(s) older than \(configuration.maximumAge), seq \(Self.range(victims.map(\.seq))); expired so far: \(drops.expiredAggregates) aggregates, \(drops.expiredAlerts) alerts",
                               metadata: ["dropped": "\(victims.count)", "reason": "expired"])
                return victims.count
            } catch {
                degradeLocked(&state, failure: error, now: now)
            }
        }
        return 0
    }

    /// Moves the capture times of the messages numbered `fromSequence` and above by `step`: the
    /// wall clock was set (forward for a positive step) after they were stamped, and this puts
    /// them on the new time, so expiry measures their true age: a forward step never expires a
    /// backlog at once, a backward one never keeps it too long. Returns how many moved.
    @discardableResult
    public func shiftCaptureTimes(by step: Duration, fromSequence: UInt64) -> Int {
        let (seconds, attoseconds) = step.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        guard milliseconds != 0 else { return 0 }
        return state.withLock { state in
            // A backward step moves "now" back too: check expiry again on the new time.
            state.nextExpiryCheck = .distantPast
            for _ in 0..<2 {
                do throws(StoreFailure) {
                    return try state.store.shiftCaptures(fromSequence: fromSequence, byMilliseconds: milliseconds)
                } catch {
                    degradeLocked(&state, failure: error, now: clock())
                }
            }
            return 0
        }
    }

    // MARK: Drain

    /// Up to `limit` messages, oldest first, with sequence numbers above `after` (a drain cursor
    /// that skips what is already in flight). Messages stay queued until acknowledged.
    public func peek(limit: Int, after: UInt64 = 0) -> [OutboxEntry] {
        guard limit > 0 else { return [] }
        return state.withLock { state in
            let now = clock()
            expireIfDue(&state, now: now)
            for _ in 0..<2 {
                do throws(StoreFailure) {
                    let rows = try state.store.peek(limit: limit, after: after)
                    var entries: [OutboxEntry] = []
                    var damaged: [Victim] = []
                    for row in rows {
                        if let kind = row.kind, let properties = OutboxProperties.decode(row.properties) {
                            entries.append(OutboxEntry(seq: row.seq, kind: kind,
                                                       capturedAt: Date(millisecondsSince1970: row.capturedAtMilliseconds),
                                                       properties: properties, body: row.body))
                        } else {
                            damaged.append(Victim(seq: row.seq, kind: row.kind ?? .aggregate, size: row.size))
                        }
                    }
                    if !damaged.isEmpty { try dropDamaged(&state, damaged) }
                    return entries
                } catch {
                    degradeLocked(&state, failure: error, now: now)
                }
            }
            return []
        }
    }

    private func dropDamaged(_ state: inout State, _ victims: [Victim]) throws(StoreFailure) {
        var drops = state.ledger.drops
        drops.unreadable += UInt64(victims.count)
        try state.store.commit(insert: [], delete: victims.map(\.seq),
                               meta: StoreMeta(nextSequence: state.ledger.nextSequence, drops: drops))
        state.ledger.drops = drops
        removeFromLedger(&state, victims)
        logger.warning("outbox: dropped \(victims.count) damaged message(s) that could not be decoded, seq \(Self.range(victims.map(\.seq)))",
                       metadata: ["dropped": "\(victims.count)", "reason": "unreadable"])
    }

    /// Deletes a delivered message (after its PUBACK). Unknown numbers are ignored (a duplicate
    /// PUBACK, or a message already dropped).
    public func acknowledge(seq: UInt64) {
        acknowledge(seqs: [seq])
    }

    /// Deletes delivered messages in one transaction.
    public func acknowledge(seqs: some Sequence<UInt64>) {
        let seqs = Array(seqs)
        guard !seqs.isEmpty else { return }
        state.withLock { state in
            for _ in 0..<2 {
                do throws(StoreFailure) {
                    removeFromLedger(&state, try state.store.remove(seqs))
                    return
                } catch {
                    degradeLocked(&state, failure: error, now: clock())
                }
            }
        }
    }

    private func removeFromLedger(_ state: inout State, _ victims: [Victim]) {
        state.ledger.depth -= victims.count
        state.ledger.bytes -= victims.reduce(0) { $0 + $1.size }
    }

    // MARK: Close

    /// Closes the database file, so another `Outbox` (a restart in the same process, a test) can
    /// open it. Nothing is lost: everything committed is in the file. Calls after `close()` see an
    /// empty in-memory outbox that never returns to the file.
    public func close() {
        // What was submitted is committed first; then the committing thread ends.
        commits.lock()
        while !commits.pending.isEmpty || commits.committing {
            if commits.committing || commits.committerStarted { commits.wait() } else { commitGroupLocked() }
        }
        commits.stopped = true
        commits.broadcast()
        while commits.committerStarted, !commits.committerFinished { commits.wait() }
        commits.unlock()
        state.withLock { state in
            (state.store as? SQLiteStore)?.close()
            state.store = MemoryStore(rows: [], adoptedFile: false)
            state.mode = .memory(reason: "closed")
            state.ledger.depth = 0
            state.ledger.bytes = 0
            state.nextDurableRetry = .distantFuture
        }
    }

    // MARK: Status

    public var mode: OutboxMode { state.withLock { $0.mode } }

    /// Messages waiting for their PUBACK.
    public var depth: Int { state.withLock { $0.ledger.depth } }

    /// Capture time of the oldest waiting message; `nil` when empty.
    public var oldestCapture: Date? {
        state.withLock { state in
            guard state.ledger.depth > 0 else { return nil }
            return (try? state.store.headCapture()).flatMap { $0.map(Date.init(millisecondsSince1970:)) }
        }
    }

    /// The drops so far without reading the database, or nil while a commit holds the outbox:
    /// the agent asks at every message and must not wait out a commit's fsync (it asks again at
    /// the next one).
    public var dropsIfAvailable: OutboxDrops? {
        state.withLockIfAvailable { $0.ledger.drops }
    }

    public var statistics: OutboxStatistics {
        let now = clock()
        return state.withLock { state in
            let oldest: Date? = state.ledger.depth > 0
                ? (try? state.store.headCapture()).flatMap { $0.map(Date.init(millisecondsSince1970:)) } : nil
            return OutboxStatistics(depth: state.ledger.depth, bytes: state.ledger.bytes,
                                    quotaBytes: state.mode.isDurable ? configuration.quotaBytes : configuration.memoryQuotaBytes,
                                    oldestCapture: oldest,
                                    oldestAge: oldest.map { .milliseconds(max(0, (now.timeIntervalSince($0) * 1000).rounded())) },
                                    drops: state.ledger.drops, mode: state.mode, nextSequence: state.ledger.nextSequence,
                                    durabilityProblem: (state.store as? SQLiteStore)?.durabilityProblem)
        }
    }

    // MARK: Recovery

    /// While degraded, tries the database file again and moves the memory queue into it.
    /// Returns whether the outbox is durable now. Also runs by itself every
    /// ``OutboxConfiguration/durableRetryInterval`` during `enqueue`.
    @discardableResult
    public func retryDurable() -> Bool {
        state.withLock { state in retryDurableLocked(&state, now: clock()) }
    }

    func retryDurableLocked(_ state: inout State, now: Date) -> Bool {
        guard case .memory = state.mode, let memory = state.store as? MemoryStore else { return true }
        state.nextDurableRetry = now + configuration.durableRetryInterval.timeInterval
        let opened = Self.openDurable(directory: directory, path: path, configuration: configuration, now: now,
                                      logger: logger, initialSequence: state.ledger.nextSequence)
        guard case let .success((store, contents)) = opened else {
            if case let .failure(failure) = opened {
                logger.warning("outbox still in MEMORY: \(failure.reason); next try in \(configuration.durableRetryInterval)")
            }
            return false
        }
        let rows = memory.allRows()
        let next = max(contents.meta.nextSequence, state.ledger.nextSequence)
        var ledger = state.ledger
        ledger.nextSequence = next
        do throws(StoreFailure) {
            if memory.adoptedFile {
                // The memory queue started as this file's rows: it is the whole truth now.
                try store.replaceAll(with: rows, meta: StoreMeta(nextSequence: next, drops: ledger.drops))
            } else {
                let sinceDegrade = Self.difference(ledger.drops, state.dropsAtDegrade)
                ledger.drops = contents.meta.drops + sinceDegrade
                try store.commit(insert: rows, delete: [], meta: StoreMeta(nextSequence: next, drops: ledger.drops))
                ledger.depth += contents.depth
                ledger.bytes += contents.bytes
            }
        } catch {
            store.close()
            logger.warning("outbox still in MEMORY: could not move \(rows.count) message(s) into \(path): \(error.reason); next try in \(configuration.durableRetryInterval)")
            return false
        }
        state.store = store
        state.mode = .durable(path: path)
        state.ledger = ledger
        logger.notice("outbox durable again in \(path): \(rows.count) message(s) moved from memory, \(ledger.depth) queued")
        return true
    }

    func degradeLocked(_ state: inout State, failure: StoreFailure, now: Date) {
        guard let sqlite = state.store as? SQLiteStore else { return }
        // Read the file's queue into memory if it can still be read; if not, it stays in the file
        // and is merged back when the file works again.
        let rows = try? sqlite.allRows()
        sqlite.close()
        let memory = MemoryStore(rows: rows ?? [], adoptedFile: rows != nil)
        let floor = Self.sequenceFloor(now)
        state.dropsAtDegrade = state.ledger.drops
        state.ledger.nextSequence = max(state.ledger.nextSequence, floor)
        state.ledger.depth = rows?.count ?? 0
        state.ledger.bytes = rows?.reduce(0) { $0 + $1.size } ?? 0
        let left = rows == nil ? "; the queued messages stay in the file until it works again" : ""
        let reason = "\(sqlite.path): \(failure.reason)"
        state.store = memory
        state.mode = .memory(reason: reason)
        state.nextDurableRetry = now + configuration.durableRetryInterval.timeInterval
        logger.error("outbox degraded to MEMORY, queued messages will not survive a restart: \(reason); \(state.ledger.depth) message(s) held in RAM (quota \(configuration.memoryQuotaBytes) bytes)\(left); trying the file again every \(configuration.durableRetryInterval)")
    }

    /// Opens the file; a corrupt one is moved aside and replaced once.
    private static func openDurable(directory: StateDirectory, path: String, configuration: OutboxConfiguration,
                                    now: Date, logger: Logger,
                                    initialSequence: UInt64 = 1) -> Result<(SQLiteStore, SQLiteStore.Contents), StoreFailure> {
        do {
            try directory.prepare()
        } catch {
            return .failure(.unusable(error.reason))
        }
        do throws(StoreFailure) {
            let (store, contents) = try SQLiteStore.open(path: path, configuration: configuration, initialSequence: initialSequence,
                                                         logger: logger)
            if !contents.damaged.isEmpty {
                logger.warning("outbox: dropped \(contents.damaged.count) damaged message(s) that could not be decoded, seq \(range(contents.damaged))",
                               metadata: ["dropped": "\(contents.damaged.count)", "reason": "unreadable"])
            }
            return .success((store, contents))
        } catch {
            guard case let .corrupt(reason) = error else { return .failure(error) }
            let aside: String
            do {
                aside = try moveAside(path, now: now)
            } catch {
                return .failure(.unusable("\(path) is corrupt (\(reason)) and could not be moved aside: \(error.outboxText)"))
            }
            logger.error("outbox database \(path) is corrupt or unreadable (\(reason)); moved it aside to \(aside) and opened a fresh one; messages queued in it are not sent",
                         metadata: ["file": "\(aside)"])
            // The old counter is lost with the file: continue above any number it can have issued.
            return Result { () throws(StoreFailure) in
                try SQLiteStore.open(path: path, configuration: configuration,
                                     initialSequence: max(initialSequence, sequenceFloor(now)), logger: logger)
            }
        }
    }

    /// Renames `path` (and its `-wal`, `-shm`) to `path.corrupt-<UTC time>`; returns the new name.
    private static func moveAside(_ path: String, now: Date) throws(SystemError) -> String {
        let iso: String = now.formatted(Date.ISO8601FormatStyle())
        let stamp = String(iso.filter { (character: Character) in character != "-" && character != ":" })
        var aside = "\(path).corrupt-\(stamp)"
        var attempt = 1
        while POSIX.exists(aside) {
            attempt += 1
            aside = "\(path).corrupt-\(stamp)-\(attempt)"
        }
        try POSIX.rename(path, to: aside)
        for suffix in ["-wal", "-shm"] where POSIX.exists(path + suffix) {
            try POSIX.rename(path + suffix, to: aside + suffix)
        }
        return aside
    }

    /// A sequence number above any issued before `now` by a counter that started at a floor.
    static func sequenceFloor(_ now: Date) -> UInt64 {
        UInt64(clamping: max(0, now.millisecondsSince1970)) * 1000
    }

    private static func difference(_ lhs: OutboxDrops, _ rhs: OutboxDrops) -> OutboxDrops {
        var result = OutboxDrops()
        result.quotaAggregates = lhs.quotaAggregates &- rhs.quotaAggregates
        result.quotaAlerts = lhs.quotaAlerts &- rhs.quotaAlerts
        result.expiredAggregates = lhs.expiredAggregates &- rhs.expiredAggregates
        result.expiredAlerts = lhs.expiredAlerts &- rhs.expiredAlerts
        result.unreadable = lhs.unreadable &- rhs.unreadable
        return result
    }

    static func range(_ seqs: [UInt64]) -> String {
        guard let low = seqs.min(), let high = seqs.max() else { return "none" }
        return low == high ? "\(low)" : "\(low)…\(high)"
    }

    // MARK: Measurement

    /// A pragma of the open database file; `nil` while degraded (for tests).
    func durablePragma(_ name: String) -> String? {
        state.withLock { state in (state.store as? SQLiteStore)?.pragma(name) }
    }

    /// The open database file, for tests that inject a fault into it; `nil` while degraded.
    func withDurableStore(_ body: (SQLiteStore) -> Void) {
        state.withLock { state in
            if let store = state.store as? SQLiteStore { body(store) }
        }
    }

    /// Moves the WAL into the main file (for measuring bytes per message). False when degraded.
    @discardableResult
    public func checkpoint() -> Bool {
        state.withLock { state in
            guard let sqlite = state.store as? SQLiteStore else { return false }
            return (try? sqlite.checkpoint()) != nil
        }
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
