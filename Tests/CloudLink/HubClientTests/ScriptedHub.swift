import Foundation
import HubClient
import MQTT

/// A ``HubClock`` that moves only when the test calls ``advance(by:)``.
final class ManualClock: HubClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Duration = .zero
    private var observers: [@Sendable () -> Void] = []

    var now: Duration { lock.withLock { current } }

    /// `observer` runs after every advance (the scripted hub wakes the link with it).
    func onAdvance(_ observer: @escaping @Sendable () -> Void) {
        lock.withLock { observers.append(observer) }
    }

    func advance(by duration: Duration) {
        let observers = lock.withLock {
            current += duration
            return self.observers
        }
        observers.forEach { $0() }
    }
}

/// Why a scripted connect failed.
struct ScriptedRefusal: Error, CustomStringConvertible {
    var description: String { "the scripted hub refused the connection" }
}

/// An in-memory hub for the link: the test refuses connects, feeds packets, drops the
/// connection and moves the ``ManualClock``; the link's writes are decoded into MQTT packets,
/// one list per connection.
///
/// ``settle()`` waits (on a condition, no sleep) until the link's thread is blocked in
/// ``wait(timeout:)`` with no wake-up pending: everything the test caused has been handled, so
/// what it checks next is deterministic. Every wait for the link is bounded by `patience` of
/// real time, so a broken link fails the test instead of hanging it.
final class ScriptedHub: HubByteStream, @unchecked Sendable {
    let clock: ManualClock
    let patience: TimeInterval = 10
    private let condition = NSCondition()
    // Everything below is guarded by `condition`.
    private var refusalsLeft = 0
    private var attemptTimes: [Duration] = []
    private var sent: [[MQTTPacket]] = []
    private var decoder = MQTTDecoder(maximumPacketSize: 1 << 20)
    private var inbound: [UInt8] = []
    private var isOpen = false
    private var peerClosed = false
    private var wakeUpPending = false
    private var isWaiting = false
    private var timeouts: [Duration?] = []

    init(clock: ManualClock) {
        self.clock = clock
        clock.onAdvance { [weak self] in self?.wakeUp() }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }

    // MARK: The link's side

    func connect() throws -> String {
        try locked {
            attemptTimes.append(clock.now)
            if refusalsLeft > 0 {
                refusalsLeft -= 1
                throw ScriptedRefusal()
            }
            isOpen = true
            peerClosed = false
            inbound = []
            decoder = MQTTDecoder(maximumPacketSize: 1 << 20)
            sent.append([])
            return "scripted"
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try locked {
            guard isOpen, !peerClosed else { throw ScriptedRefusal() }
            sent[sent.count - 1] += try decoder.feed(bytes)
        }
    }

    var unsentByteCount: Int { 0 }

    func readAvailable() throws -> HubStreamRead {
        locked {
            if !inbound.isEmpty {
                defer { inbound = [] }
                return .bytes(inbound)
            }
            return peerClosed || !isOpen ? .closed : .nothing
        }
    }

    func close() {
        locked { isOpen = false }
    }

    func wait(timeout: Duration?) {
        // The timeout is recorded, not slept: time passes only by `ManualClock.advance`, which wakes this.
        locked { timeouts.append(timeout) }
        condition.lock()
        defer { condition.unlock() }
        isWaiting = true
        condition.broadcast()
        while !wakeUpPending { condition.wait() }
        wakeUpPending = false
        isWaiting = false
    }

    func wakeUp() {
        locked { wakeUpPending = true }
    }

    // MARK: The test's side

    /// The next `count` connects fail with ``ScriptedRefusal``.
    func refuseConnects(_ count: Int) {
        locked { refusalsLeft = count }
    }

    /// Sends packets to the link.
    func feed(_ packets: MQTTPacket...) throws {
        try locked {
            for packet in packets { inbound += try MQTTEncoder.encode(packet) }
            wakeUpPending = true
        }
    }

    /// The hub goes away: the link reads the end of the stream.
    func dropConnection() {
        locked {
            peerClosed = true
            wakeUpPending = true
        }
    }

    /// Moves the clock (which wakes the link) and waits until the link has handled it.
    func advance(by duration: Duration) throws {
        clock.advance(by: duration)
        try settle()
    }

    /// Waits until the link's thread is blocked with nothing pending.
    func settle() throws {
        condition.lock()
        defer { condition.unlock() }
        let end = Date().addingTimeInterval(patience)
        while !(isWaiting && !wakeUpPending) {
            guard condition.wait(until: end) else { throw ScriptedTimeout(what: "the link to settle") }
        }
    }

    /// Clock times of the connect attempts so far.
    var attempts: [Duration] { locked { attemptTimes } }
    /// What the link wrote, one list per connection.
    var packets: [[MQTTPacket]] { locked { sent } }
    /// Whether a connection is open (the link has not closed it).
    var connectionOpen: Bool { locked { isOpen } }
    /// The timeout of the link's latest wait.
    var lastWaitTimeout: Duration?? { locked { timeouts.last } }
}

struct ScriptedTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "waited 10 s of real time for \(what)" }
}
