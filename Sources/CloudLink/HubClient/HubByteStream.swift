/// What the hub link needs from the network: one connection at a time, bytes in and out without
/// blocking, and the one place its thread waits. ``HubClient`` uses a TCP + TLS stream by default;
/// tests give it an in-memory peer they script.
///
/// ## Contract
/// - Only the link's thread calls it, except ``wakeUp()``, which any thread may call.
/// - ``connect()``, ``write(_:)`` and ``readAvailable()`` do not wait for the peer (``connect()``
///   may take its own bounded time to resolve, connect and handshake).
/// - ``wait(timeout:)`` returns when something may have changed: bytes arrived or the connection
///   ended, queued bytes could go, ``wakeUp()`` was called (before or during the wait), or
///   `timeout` passed. It may return early; the link looks at everything again after each return.
public protocol HubByteStream: AnyObject, Sendable {
    /// Opens a connection to the hub (after ``close()`` of any earlier one); returns what to say
    /// about it in the log (the TLS version). Throws an error whose description says what failed.
    func connect() throws -> String
    /// Queues `bytes` for the hub and sends what the network takes now.
    func write(_ bytes: [UInt8]) throws
    /// Bytes queued by ``write(_:)`` that the network has not taken yet (the link stops adding
    /// telemetry while many wait).
    var unsentByteCount: Int { get }
    /// What arrived since the last call, without waiting.
    func readAvailable() throws -> HubStreamRead
    /// Ends the connection (politely when it is still sound).
    func close()
    /// Blocks until something may have changed, or `timeout` passes (nil: no limit).
    func wait(timeout: Duration?)
    /// Ends the current ``wait(timeout:)`` at once, or the next one if none is in progress.
    func wakeUp()
}

/// The outcome of ``HubByteStream/readAvailable()``.
public enum HubStreamRead: Sendable, Equatable {
    case bytes([UInt8])
    /// Nothing arrived yet.
    case nothing
    /// The peer closed the connection.
    case closed
}

/// The hub link's monotonic time: keep-alive, request time-outs and reconnect backoff are
/// measured on it. Tests inject a clock that advances only when told to.
public protocol HubClock: Sendable {
    /// Time since an arbitrary start; never goes back.
    var now: Duration { get }
}

/// ``HubClock`` on the system's continuous clock.
public struct ContinuousHubClock: HubClock {
    private let start = ContinuousClock.now

    public init() {}

    public var now: Duration { start.duration(to: .now) }
}
