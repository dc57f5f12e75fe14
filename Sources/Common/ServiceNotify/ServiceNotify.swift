import Logging
import Synchronization
import SystemCalls

/// What the service manager (systemd, `Type=notify`) told this process through its environment:
/// where to send notifications and how often it expects a watchdog ping.
public struct ServiceManagerEnvironment: Sendable, Equatable {
    /// `$NOTIFY_SOCKET`: a path, or `@name` in the abstract namespace (nil: not run by a service
    /// manager that listens, so nothing is sent).
    public var socket: String?
    /// `$WATCHDOG_USEC` when `$WATCHDOG_PID` is absent or names this process (nil: no watchdog).
    public var watchdogTimeout: Duration?

    public init(socket: String?, watchdogTimeout: Duration?) {
        self.socket = socket
        self.watchdogTimeout = watchdogTimeout
    }

    /// Reads the variables as sd_notify(3) and sd_watchdog_enabled(3) define them; malformed
    /// values count as absent.
    public init(environment: [String: String], pid: Int32) {
        let socket = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        self.socket = socket
        var timeout: Duration?
        if socket != nil, let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 {
            let forUs = environment["WATCHDOG_PID"].map { Int32($0) == pid } ?? true
            if forUs { timeout = .microseconds(usec) }
        }
        watchdogTimeout = timeout
    }
}

/// One notification to the service manager (sd_notify(3)'s `KEY=VALUE` lines).
public enum ServiceNotification: Sendable, Equatable {
    /// Start-up is finished; with a first status line.
    case ready(status: String)
    case status(String)
    /// The watchdog keep-alive.
    case watchdog
    /// Shutting down; with a last status line.
    case stopping(status: String)

    /// The datagram's bytes. A status is one line (newlines become spaces) of at most 200 bytes.
    public var datagram: [UInt8] {
        func status(_ text: String) -> String {
            var line = String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
            while line.utf8.count > 200 { line.removeLast() }
            return "STATUS=" + line
        }
        let lines: [String]
        switch self {
        case .ready(let text): lines = ["READY=1", status(text)]
        case .status(let text): lines = [status(text)]
        case .watchdog: lines = ["WATCHDOG=1"]
        case .stopping(let text): lines = ["STOPPING=1", status(text)]
        }
        return Array(lines.joined(separator: "\n").utf8)
    }
}

/// Whether the process is well enough to ping the watchdog: every loop that matters says by when
/// it will be back (its next sample, its next wait's end); a loop past that, plus ``grace``, is
/// hung, and then no ping is sent, so the service manager restarts the process. Pure: the times
/// come from the caller.
public struct WatchdogPolicy: Sendable, Equatable {
    /// How long a loop may overrun its promise (a slow bus read, a TLS handshake).
    public var grace: Duration
    /// How often to look (half the service manager's timeout, as sd_watchdog_enabled(3) advises).
    public var interval: Duration

    public init(timeout: Duration, grace: Duration) {
        self.grace = grace
        interval = timeout / 2
    }

    public enum Verdict: Sendable, Equatable {
        case ping
        /// These loops are past their promise (sorted).
        case withhold(hung: [String])
    }

    /// - Parameter promises: each loop's promised return (nil: the loop waits for work without a
    ///   deadline, or has ended; either is not a hang).
    public func verdict(now: ContinuousClock.Instant, promises: [String: ContinuousClock.Instant?]) -> Verdict {
        let hung = promises.compactMap { name, promise -> String? in
            guard let promise, now > promise + grace else { return nil }
            return name
        }.sorted()
        return hung.isEmpty ? .ping : .withhold(hung: hung)
    }
}

/// Sends notifications to the service manager as datagrams to `$NOTIFY_SOCKET` and, when it
/// asks for a watchdog, pings it every half timeout while every watched loop keeps its promise.
/// Does nothing when not run under a notifying service manager.
public final class ServiceNotifier: Sendable {
    public let environment: ServiceManagerEnvironment
    let logger: Logger
    let grace: Duration
    /// Ends the ping thread's wait when the service stops.
    let stopping = WakeUp()
    struct State {
        var loops: [String: @Sendable () -> ContinuousClock.Instant?] = [:]
        var pinging = false
        var stopped = false
        var withheld: [String] = []
        var warned = false
    }
    let state = Mutex(State())

    public init(environment: ServiceManagerEnvironment, grace: Duration = .seconds(30), logger: Logger) {
        self.environment = environment
        self.grace = grace
        self.logger = logger
    }

    /// Watches a loop: `promise` says by when it will be back (nil: no deadline now).
    public func watch(_ loop: String, promise: @escaping @Sendable () -> ContinuousClock.Instant?) {
        state.withLock { $0.loops[loop] = promise }
    }

    /// Sends one notification; a failure is logged once (the service manager restarts a
    /// `Type=notify` service that never says it is ready, so that is where it shows).
    public func send(_ notification: ServiceNotification) {
        state.withLock { send(notification, warned: &$0.warned) }
    }

    private func send(_ notification: ServiceNotification, warned: inout Bool) {
        guard let socket = environment.socket else { return }
        do {
            try POSIX.sendDatagram(notification.datagram, toUnixSocket: socket)
        } catch {
            if !warned { logger.warning("cannot notify the service manager at \(socket): \(error)") }
            warned = true
        }
    }

    /// Starts the watchdog pings (when the service manager asked for them), from a thread of
    /// their own that sleeps between pings: no Dispatch timer (libdispatch's worker pool, once
    /// started, wakes the process every second for good).
    public func startWatchdog() {
        guard environment.socket != nil, let timeout = environment.watchdogTimeout else { return }
        let policy = WatchdogPolicy(timeout: timeout, grace: grace)
        let interval = max(policy.interval, .milliseconds(1))
        let start = state.withLock { s -> Bool in
            guard !s.pinging, !s.stopped else { return false }
            s.pinging = true
            return true
        }
        guard start else { return }
        let started = POSIX.startThread { [self] in
            repeat {
                tick(policy)
            } while !stopping.wait(timeout: interval)
        }
        if started != 0 { logger.warning("cannot start the watchdog thread: \(POSIX.describe(errno: started)); the service manager will restart the agent") }
    }

    func tick(_ policy: WatchdogPolicy) {
        // The loops' promises are asked outside the lock (they read other components' state).
        let loops = state.withLock { $0.loops }
        let verdict = policy.verdict(now: .now, promises: loops.mapValues { $0() })
        // The stopped check and the ping under one lock: no ping after STOPPING.
        state.withLock { s in
            guard !s.stopped else { return }
            switch verdict {
            case .ping:
                send(.watchdog, warned: &s.warned)
                s.withheld = []
            case .withhold(let hung):
                if s.withheld != hung {
                    logger.critical("watchdog ping withheld: \(hung.joined(separator: ", ")) stopped making progress; the service manager will restart the agent")
                }
                s.withheld = hung
            }
        }
    }

    /// Ends the watchdog pings and says the service is stopping.
    public func stop(status: String) {
        state.withLock { s in
            s.stopped = true
            send(.stopping(status: status), warned: &s.warned)
        }
        stopping.raise()
    }
}
