import FoundationEssentials
import HAL
import HubClient
import IoTHub
import Outbox
import Synchronization
import SystemCalls

/// Feeds the hub link from the durable outbox (issue 6): what was queued while the link was
/// down (the backlog) drains oldest-first at `drainRate`, while messages queued since the link
/// came up (live) go at once. A message handed to the link stays in the outbox until its PUBACK;
/// after a crash it is handed out again (at most the in-flight window is sent twice).
///
/// Acknowledged messages are deleted by a background thread, many per transaction: one SQLite
/// transaction per PUBACK would cap the drain at a few hundred messages per second. Messages
/// taken and not yet deleted are bounded by `maximumUnsettled` (new messages wait while it is
/// reached), which bounds what a crash can send twice.
///
/// The link is woken, never polling: by the outbox after each enqueue, by the deleter after each
/// batch (room under `maximumUnsettled`, a lower ``waiting``), and told how long a paced
/// backlog makes it wait (``pacingDelay``).
public final class OutboxSource: HubMessageSource {
    struct State {
        /// Handed to the link and not acknowledged yet.
        var taken: Set<UInt64> = []
        /// When each message in flight was handed to the link (for the publish latency).
        var handedAt: [UInt64: ContinuousClock.Instant] = [:]
        /// Messages up to this sequence number are backlog; above it, live.
        var boundary: UInt64 = 0
        var liveCursor: UInt64 = 0
        var backlogCursor: UInt64 = 0
        var pacer: DrainPacer<ContinuousClock.Instant>
        var drained = 0
        var live = 0
        var acknowledged = 0
        /// PUBACKed, waiting for the deleter thread.
        var toDelete: [UInt64] = []
        var closed = false
        var deleterFinished = false
        /// After the last take: how long until the paced backlog may hand out more.
        var pacingDelay: Duration?
    }

    public let outbox: Outbox
    public let deviceID: String
    public let maximumUnsettled: Int
    let state: Mutex<State>
    /// Wakes the deleter thread (work to do, or closing).
    let deleterWake = WakeUp()
    /// Wakes ``close()`` when the deleter is done.
    let deleterDone = WakeUp()
    let linkWakeUp = Mutex<(@Sendable () -> Void)?>(nil)
    /// Told each PUBACK's latency: from handing the message to the link to its acknowledgement.
    public let latencyObserver = Mutex<(@Sendable (Duration) -> Void)?>(nil)

    /// - Parameters:
    ///   - drainRate: backlog messages per second (live messages are not paced).
    ///   - maximumUnsettled: messages taken and not yet deleted, at most (default: the link's
    ///     in-flight window and its queue, 2 × 20).
    public init(outbox: Outbox, deviceID: String, drainRate: Double, maximumUnsettled: Int = 40) throws(OutboxError) {
        self.outbox = outbox
        self.deviceID = deviceID
        self.maximumUnsettled = max(1, maximumUnsettled)
        let pacer = try DrainPacer(rate: drainRate, burst: max(1, Int(drainRate.rounded(.up))), now: ContinuousClock.now)
        let newest = outbox.statistics.nextSequence &- 1
        state = Mutex(State(boundary: newest, liveCursor: newest, pacer: pacer))
        outbox.observeEnqueue { [weak self] in self?.wakeLink() }
        if POSIX.startThread({ [weak self] in self?.deleteLoop() }) != 0 {
            // Out of threads: delete each acknowledgement as it comes (slower, nothing lost).
            state.withLock { $0.deleterFinished = true }
        }
    }

    public func setWakeUp(_ wakeUp: @escaping @Sendable () -> Void) {
        linkWakeUp.withLock { $0 = wakeUp }
    }

    func wakeLink() {
        linkWakeUp.withLock { $0 }?()
    }

    /// Deletes acknowledged messages in batches until ``close()``.
    func deleteLoop() {
        while true {
            while state.withLock({ $0.toDelete.isEmpty && !$0.closed }) { _ = deleterWake.wait(timeout: .seconds(86_400)) }
            let (batch, closed) = state.withLock { s in
                defer { s.toDelete.removeAll(keepingCapacity: true) }
                return (s.toDelete, s.closed)
            }
            if !batch.isEmpty {
                outbox.acknowledge(seqs: batch)
                state.withLock { s in for seq in batch { s.taken.remove(seq) } }
                wakeLink()
            }
            if closed && batch.isEmpty {
                state.withLock { $0.deleterFinished = true }
                deleterDone.raise()
                return
            }
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
        }
    }

    public func take(limit: Int) -> [HubOutgoing] {
        guard limit > 0 else { return [] }
        return state.withLock { s in
            let now = ContinuousClock.now
            let out = take(limit: limit, now: now, &s)
            // A backlog held back by the pacer (not by the unsettled bound, whose deletions wake
            // the link): when its next token is due.
            let paced = s.backlogCursor < s.boundary && out.isEmpty && s.pacer.available(at: now) == 0
            s.pacingDelay = paced ? s.pacer.delay(until: 1, at: now) : nil
            return out
        }
    }

    /// Live messages first, then the backlog as far as the pacer allows.
    private func take(limit: Int, now: ContinuousClock.Instant, _ s: inout State) -> [HubOutgoing] {
        var out: [HubOutgoing] = []
        let limit = min(limit, maximumUnsettled - s.taken.count)
        guard limit > 0 else { return out }
        // Live first: queued since the link came up.
        for entry in outbox.peek(limit: limit, after: max(s.liveCursor, s.boundary)) {
            s.liveCursor = entry.seq
            guard s.taken.insert(entry.seq).inserted, let message = outgoing(entry) else { continue }
            s.handedAt[entry.seq] = now
            out.append(message)
            s.live += 1
        }
        // Then the backlog, oldest first, paced.
        let room = min(limit - out.count, s.pacer.available(at: now))
        guard room > 0, s.backlogCursor < s.boundary else { return out }
        var sent = 0
        for entry in outbox.peek(limit: room + s.taken.count, after: s.backlogCursor) {
            guard entry.seq <= s.boundary else {
                s.backlogCursor = s.boundary
                break
            }
            s.backlogCursor = entry.seq
            guard !s.taken.contains(entry.seq) else { continue }
            guard let message = outgoing(entry) else { continue }
            s.taken.insert(entry.seq)
            s.handedAt[entry.seq] = now
            out.append(message)
            sent += 1
            if sent == room { break }
        }
        if sent < room, s.backlogCursor < s.boundary, outbox.peek(limit: 1, after: s.backlogCursor).first.map({ $0.seq > s.boundary }) ?? true {
            s.backlogCursor = s.boundary
        }
        s.pacer.consume(sent, at: now)
        s.drained += sent
        return out
    }

    public func acknowledged(_ tokens: [UInt64]) {
        let now = ContinuousClock.now
        var latencies: [Duration] = []
        let inline = state.withLock { s in
            s.acknowledged += tokens.count
            latencies = tokens.compactMap { s.handedAt.removeValue(forKey: $0).map { now - $0 } }
            if s.deleterFinished { return true }
            s.toDelete += tokens
            return false
        }
        if let observe = latencyObserver.withLock({ $0 }) { latencies.forEach(observe) }
        guard inline else { return deleterWake.raise() }
        outbox.acknowledge(seqs: tokens)
        state.withLock { s in for seq in tokens { s.taken.remove(seq) } }
        wakeLink()
    }

    public var pacingDelay: Duration? { state.withLock { $0.pacingDelay } }

    /// Everything not acknowledged yet, in flight or not.
    public var waiting: Int { outbox.depth }

    /// Messages the hub acknowledged (and the outbox deleted) since start.
    public var acknowledgedCount: Int { state.withLock { $0.acknowledged } }

    /// Backlog messages handed to the link so far (paced), and live ones.
    public var counts: (backlog: Int, live: Int) { state.withLock { ($0.drained, $0.live) } }

    /// The topic for a stored message: its properties, plus `$.mid` = device id + sequence number
    /// (so the hub can drop the duplicates a crash may cause) and `$.ctime` = its capture time (so
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

    static func iso8601(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
