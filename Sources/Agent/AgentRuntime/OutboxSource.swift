import FoundationEssentials
import HAL
import HubClient
import IoTHub
import Outbox
import Synchronization
import SystemCalls

/// Feeds the hub link from the durable outbox (issue 6): what was queued while the link was
/// down (the backlog) drains oldest-first at `drainRate` hub messages per second, packed into
/// batches (``BacklogBatching``: many stored messages in one hub message), while messages queued
/// since the link came up (live) go at once and alone. A message handed to the link stays in the
/// outbox until the PUBACK of the hub message that carried it; after a crash it is handed out
/// again (at most the unsettled hub messages, batches included, are sent twice).
///
/// Acknowledged messages are deleted by a background thread, many per transaction: one SQLite
/// transaction per PUBACK would cap the drain at a few hundred messages per second. Hub messages
/// taken and not yet deleted are bounded by `maximumUnsettled` (new messages wait while it is
/// reached), which bounds what a crash can send twice.
///
/// The link is woken, never polling: by the outbox after each enqueue, by the deleter after each
/// batch (room under `maximumUnsettled`, a lower ``waiting``), and told how long a paced
/// backlog makes it wait (``pacingDelay``).
public final class OutboxSource: HubMessageSource {
    struct State {
        /// Stored messages handed to the link and not deleted yet.
        var taken: Set<UInt64> = []
        /// Hub messages handed to the link and not deleted yet (a batch counts once).
        var unsettled = 0
        /// The stored messages of each batch in flight, by its token (its first sequence number).
        var batches: [UInt64: [UInt64]] = [:]
        /// When each hub message in flight was handed to the link (for the publish latency).
        var handedAt: [UInt64: ContinuousClock.Instant] = [:]
        /// Messages up to this sequence number are backlog; above it, live.
        var boundary: UInt64 = 0
        var liveCursor: UInt64 = 0
        var backlogCursor: UInt64 = 0
        var pacer: DrainPacer<ContinuousClock.Instant>
        var drained = 0
        var batchesSent = 0
        var live = 0
        var acknowledged = 0
        /// PUBACKed stored messages, waiting for the deleter thread, and how many hub messages carried them.
        var toDelete: [UInt64] = []
        var toSettle = 0
        var closed = false
        var deleterFinished = false
        /// After the last take: how long until the paced backlog may hand out more.
        var pacingDelay: Duration?
        /// The start-up jitter: the backlog from before this start waits until then.
        var holdUntil: ContinuousClock.Instant?
        /// Metered bytes (body + properties) of each hub message in flight, by token.
        var meteredBytes: [UInt64: Int] = [:]
        var quota: HubQuotaMeter
    }

    public let outbox: Outbox
    public let deviceID: String
    public let maximumUnsettled: Int
    /// How the backlog is packed (nil: one hub message per stored message).
    public let batching: BacklogBatching?
    let clock: @Sendable () -> ContinuousClock.Instant
    let wallClock: @Sendable () -> Date
    let state: Mutex<State>
    /// Wakes the deleter thread (work to do, or closing).
    let deleterWake = WakeUp()
    /// Wakes ``close()`` when the deleter is done.
    let deleterDone = WakeUp()
    let linkWakeUp = CallbackSlot<Void>()
    /// Told each PUBACK's latency: from handing the message to the link to its acknowledgement.
    public let latencyObserver = CallbackSlot<Duration>()

    /// - Parameters:
    ///   - drainRate: backlog hub messages per second at most: the ceiling of the adaptive rate
    ///     (``DrainPacer``: it drops on slow acknowledgements and throttling disconnects and climbs
    ///     back while acknowledgements are fast; live messages are not paced).
    ///   - maximumUnsettled: hub messages taken and not yet deleted, at most (default: the link's
    ///     in-flight window and its queue, 2 × 20).
    ///   - batching: how the backlog is packed (default ``BacklogBatching/standard``; nil: one
    ///     hub message per stored message).
    ///   - adaptation: how the drain rate follows the hub.
    ///   - startupHold: how long a backlog from before this start waits before it drains (the
    ///     start-up jitter, ``startupDelay(maximum:using:)``), so boards powered up together do
    ///     not drain at once; live messages do not wait.
    ///   - clock: "now" for pacing, the hold and acknowledgement latencies.
    ///   - wallClock: the time the daily quota's UTC day is taken from.
    public init(outbox: Outbox, deviceID: String, drainRate: Double, maximumUnsettled: Int = 40,
                batching: BacklogBatching? = .standard, adaptation: DrainPacer<ContinuousClock.Instant>.Adaptation = .init(),
                startupHold: Duration = .zero,
                clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
                wallClock: @escaping @Sendable () -> Date = { Date() }) throws(OutboxError) {
        self.outbox = outbox
        self.clock = clock
        self.wallClock = wallClock
        self.deviceID = deviceID
        self.maximumUnsettled = max(1, maximumUnsettled)
        self.batching = batching
        let pacer = try DrainPacer(rate: drainRate, burst: max(1, Int(drainRate.rounded(.up))), now: clock(),
                                   adaptation: adaptation)
        let newest = outbox.statistics.nextSequence &- 1
        let hold = startupHold > .zero && outbox.depth > 0 ? clock() + startupHold : nil
        state = Mutex(State(boundary: newest, liveCursor: newest, pacer: pacer, holdUntil: hold, quota: HubQuotaMeter(at: wallClock())))
        outbox.observeEnqueue { [weak self] in self?.wakeLink() }
        if POSIX.startThread({ [weak self] in self?.deleteLoop() }) != 0 {
            // Out of threads: delete each acknowledgement as it comes (slower, nothing lost).
            state.withLock { $0.deleterFinished = true }
        }
    }

    public func setWakeUp(_ wakeUp: @escaping @Sendable () -> Void) {
        linkWakeUp.set { _ in wakeUp() }
    }

    func wakeLink() {
        linkWakeUp()
    }

    /// Deletes acknowledged messages in batches until ``close()``.
    func deleteLoop() {
        while true {
            while state.withLock({ $0.toDelete.isEmpty && !$0.closed }) { _ = deleterWake.wait(timeout: .seconds(86_400)) }
            let (batch, settled, closed) = state.withLock { s in
                defer {
                    s.toDelete.removeAll(keepingCapacity: true)
                    s.toSettle = 0
                }
                return (s.toDelete, s.toSettle, s.closed)
            }
            if !batch.isEmpty {
                outbox.acknowledge(seqs: batch)
                settle(batch, messages: settled)
                wakeLink()
            }
            if closed && batch.isEmpty {
                state.withLock { $0.deleterFinished = true }
                deleterDone.raise()
                return
            }
        }
    }

    /// The stored messages `seqs` (carried by `messages` hub messages) are deleted.
    func settle(_ seqs: [UInt64], messages: Int) {
        state.withLock { s in
            for seq in seqs { s.taken.remove(seq) }
            s.unsettled -= messages
        }
    }

    /// Deletes what is acknowledged and stops the deleter thread (waiting for it at most 5 s).
    public func close() {
        outbox.observeEnqueue(nil)
        state.withLock { $0.closed = true }
        deleterWake.raise()
        let deadline = ContinuousClock.now + .seconds(5)
        while !state.withLock({ $0.deleterFinished }) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            _ = deleterDone.wait(timeout: left)
        }
    }

    /// The link came up: everything queued until now (and not in flight) is backlog.
    public func linkUp() {
        let newest = outbox.statistics.nextSequence &- 1
        state.withLock { s in
            s.boundary = max(s.boundary, newest)
            s.liveCursor = max(s.liveCursor, newest)
            s.backlogCursor = 0
            // What was in flight is sent again now: its latency counts from here, not from
            // before the outage (which would read as a slow acknowledgement).
            let now = clock()
            for token in s.handedAt.keys { s.handedAt[token] = now }
            s.pacer.sentAgain(s.handedAt.count, at: now)
        }
    }

    /// The connection ended with messages in flight: taken as a throttling signal (IoT Hub
    /// throttles over MQTT by closing the connection), so the drain slows down.
    public func linkDown() {
        state.withLock { s in
            guard !s.handedAt.isEmpty else { return }
            s.pacer.throttled(at: clock())
        }
    }

    public func take(limit: Int) -> [HubOutgoing] {
        guard limit > 0 else { return [] }
        return state.withLock { s in
            let now = clock()
            let out = take(limit: limit, now: now, &s)
            // A backlog held back by the start-up jitter or the pacer (not by the unsettled
            // bound, whose deletions wake the link): when it may go on.
            let waiting = s.backlogCursor < s.boundary && out.isEmpty
            if waiting, let until = s.holdUntil {
                s.pacingDelay = now < until ? until - now : nil
            } else {
                let paced = waiting && s.pacer.available(at: now) == 0
                s.pacingDelay = paced ? s.pacer.delay(until: 1, at: now) : nil
            }
            return out
        }
    }

    /// Live messages first, then the backlog as far as the pacer allows.
    private func take(limit: Int, now: ContinuousClock.Instant, _ s: inout State) -> [HubOutgoing] {
        var out: [HubOutgoing] = []
        let limit = min(limit, maximumUnsettled - s.unsettled)
        guard limit > 0 else { return out }
        // Live first: queued since the link came up.
        for entry in outbox.peek(limit: limit, after: max(s.liveCursor, s.boundary)) {
            s.liveCursor = entry.seq
            guard !s.taken.contains(entry.seq), let message = outgoing(entry) else { continue }
            hand(message, carrying: [entry.seq], now: now, &s)
            out.append(message)
            s.live += 1
        }
        // Then the backlog, oldest first, in batches, paced (a batch is one hub message), once
        // the start-up jitter is over.
        if let until = s.holdUntil {
            guard now >= until else { return out }
            s.holdUntil = nil
            s.pacer.restart(at: now)
        }
        let room = min(limit - out.count, s.pacer.available(at: now))
        guard room > 0, s.backlogCursor < s.boundary else { return out }
        var sent = 0
        var pending: [OutboxEntry] = []
        var pendingBytes = 0
        func flush(_ s: inout State) {
            defer {
                pending.removeAll()
                pendingBytes = 0
            }
            guard let message = pending.count == 1 ? outgoing(pending[0]) : batch(pending) else { return }
            hand(message, carrying: pending.map(\.seq), now: now, &s)
            out.append(message)
            sent += 1
            s.drained += pending.count
            if pending.count > 1 { s.batchesSent += 1 }
        }
        scan: while sent < room {
            let chunk = outbox.peek(limit: batching == nil ? min(1024, room + s.taken.count) : 1024, after: s.backlogCursor)
            guard !chunk.isEmpty else {
                s.backlogCursor = s.boundary
                break
            }
            for entry in chunk {
                guard entry.seq <= s.boundary else {
                    s.backlogCursor = s.boundary
                    break scan
                }
                guard !s.taken.contains(entry.seq) else {
                    s.backlogCursor = entry.seq
                    continue
                }
                if !pending.isEmpty && !fits(entry, after: pending, bytes: pendingBytes) {
                    flush(&s)
                    if sent == room { break scan }   // this entry goes next time
                }
                s.backlogCursor = entry.seq
                pending.append(entry)
                pendingBytes += entry.body.count
                // Alerts go alone; so does everything when batching is off.
                if entry.kind == .alert || batching == nil {
                    flush(&s)
                    if sent == room { break scan }
                }
            }
        }
        if !pending.isEmpty { flush(&s) }
        s.pacer.consume(sent, at: now)
        return out
    }

    /// Whether `entry` may join the batch `pending` (of `bytes` body bytes).
    private func fits(_ entry: OutboxEntry, after pending: [OutboxEntry], bytes: Int) -> Bool {
        guard let batching, entry.kind != .alert, pending.last?.kind != .alert, pending.count < batching.maximumMessages else { return false }
        return BacklogBatching.size(deviceID: deviceID, bodyBytes: bytes + entry.body.count, count: pending.count + 1) <= batching.maximumBodyBytes
    }

    /// Records `message` (carrying the stored messages `seqs`) as handed to the link.
    private func hand(_ message: HubOutgoing, carrying seqs: [UInt64], now: ContinuousClock.Instant, _ s: inout State) {
        for seq in seqs { s.taken.insert(seq) }
        if seqs.count > 1 { s.batches[message.token] = seqs }
        s.handedAt[message.token] = now
        s.meteredBytes[message.token] = message.payload.count + Self.propertyBytes(message.topic)
        s.unsettled += 1
    }

    public func acknowledged(_ tokens: [UInt64]) {
        let now = clock()
        var latencies: [Duration] = []
        var seqs: [UInt64] = []
        let inline = state.withLock { s in
            latencies = tokens.compactMap { s.handedAt.removeValue(forKey: $0).map { now - $0 } }
            for latency in latencies { s.pacer.acknowledged(latency: latency, at: now) }
            let today = wallClock()
            for token in tokens {
                if let bytes = s.meteredBytes.removeValue(forKey: token) { s.quota.record(bytes: bytes, at: today) }
            }
            for token in tokens { seqs += s.batches.removeValue(forKey: token) ?? [token] }
            s.acknowledged += seqs.count
            if s.deleterFinished { return true }
            s.toDelete += seqs
            s.toSettle += tokens.count
            return false
        }
        if latencyObserver.isSet { latencies.forEach { latencyObserver($0) } }
        guard inline else { return deleterWake.raise() }
        outbox.acknowledge(seqs: seqs)
        settle(seqs, messages: tokens.count)
        wakeLink()
    }

    public var pacingDelay: Duration? { state.withLock { $0.pacingDelay } }

    /// Everything not acknowledged yet, in flight or not.
    public var waiting: Int { outbox.depth }

    /// Stored messages the hub acknowledged (and the outbox deleted) since start.
    public var acknowledgedCount: Int { state.withLock { $0.acknowledged } }

    /// Stored backlog messages handed to the link so far (paced), and live ones.
    public var counts: (backlog: Int, live: Int) { state.withLock { ($0.drained, $0.live) } }

    /// The backlog's drain rate now (hub messages per second) and its ceiling.
    public var drainRate: (current: Double, ceiling: Double) { state.withLock { ($0.pacer.rate, $0.pacer.ceiling) } }

    /// Batches (hub messages carrying more than one stored message) handed to the link so far.
    public var batchesSent: Int { state.withLock { $0.batchesSent } }

    /// Hub messages and 4 KB units acknowledged today (UTC day of the wall clock).
    public var quotaToday: HubQuotaMeter { state.withLock { $0.quota }.reading(at: wallClock()) }

    /// The bytes of a topic's property bag (what IoT Hub meters beside the body).
    static func propertyBytes(_ topic: String) -> Int {
        guard let range = topic.firstRange(of: "/messages/events/") else { return 0 }
        return topic.utf8.count - topic[..<range.upperBound].utf8.count
    }

    /// The start-up jitter: a uniformly random delay in 0 … `maximum` (millisecond steps).
    public static func startupDelay(maximum: Duration, using random: inout some RandomNumberGenerator) -> Duration {
        let milliseconds = max(0, Int64(DrainPacer<ContinuousClock.Instant>.seconds(maximum) * 1000))
        return .milliseconds(Int64.random(in: 0...milliseconds, using: &random))
    }

    /// Whether the backlog is still held by the start-up jitter.
    public var holdingBacklog: Bool { state.withLock { s in s.holdUntil.map { clock() < $0 } ?? false } }

    /// The topic for a stored message: its properties, plus `$.mid` = device id + sequence number
    /// (IoT Hub delivers at least once: consumers drop the duplicates a crash may cause on it) and `$.ctime` = its capture time (so
    /// a backlog lands at the right place in time), both made from the stored row, not stored twice.
    func outgoing(_ entry: OutboxEntry) -> HubOutgoing? {
        var bag = IoTHubPropertyBag([IoTHubPropertyBag.Entry(name: IoTHubMessageProperties.SystemName.messageID, value: "\(deviceID)-\(entry.seq)")])
        for property in entry.properties { bag.append(property.name, property.value) }
        bag.append(IoTHubMessageProperties.SystemName.creationTimeUTC, Self.iso8601(entry.capturedAt))
        guard let topic = try? IoTHubTopic.telemetry(deviceID: deviceID, properties: IoTHubMessageProperties(bag: bag)) else {
            return nil
        }
        return HubOutgoing(topic: topic, payload: entry.body, token: entry.seq)
    }

    /// One hub message carrying `entries` (oldest first, two or more): the batch body, and the
    /// properties `$.mid` = device id + first + last sequence number, `$.ctime` = the first
    /// capture time, `messageType=batch`.
    func batch(_ entries: [OutboxEntry]) -> HubOutgoing? {
        guard let first = entries.first, let last = entries.last else { return nil }
        let bag = IoTHubPropertyBag([
            IoTHubPropertyBag.Entry(name: IoTHubMessageProperties.SystemName.messageID, value: "\(deviceID)-\(first.seq)-\(last.seq)"),
            IoTHubPropertyBag.Entry(name: IoTHubMessageProperties.SystemName.contentType, value: "application/json"),
            IoTHubPropertyBag.Entry(name: IoTHubMessageProperties.SystemName.contentEncoding, value: "utf-8"),
            IoTHubPropertyBag.Entry(name: "messageType", value: BacklogBatching.messageType),
            IoTHubPropertyBag.Entry(name: IoTHubMessageProperties.SystemName.creationTimeUTC, value: Self.iso8601(first.capturedAt)),
        ])
        guard let topic = try? IoTHubTopic.telemetry(deviceID: deviceID, properties: IoTHubMessageProperties(bag: bag)) else {
            return nil
        }
        return HubOutgoing(topic: topic, payload: BacklogBatching.body(deviceID: deviceID, bodies: entries.map(\.body)), token: first.seq)
    }

    static func iso8601(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
