/// The time of day, as the agent stamps readings with it on a real board, and whether it can be
/// trusted. A board without a battery-backed clock (a Raspberry Pi) starts on whatever time was
/// saved at shutdown until NTP synchronises it, and the clock is then stepped.
///
/// Injected like ``HALClock``: the Linux one asks the kernel and systemd; tests use a fake that
/// can be stepped and synchronised at will.
public protocol WallClock: AnyObject, Sendable {
    /// Time since 1970-01-01 00:00 UTC (`CLOCK_REALTIME`): it can jump when the clock is set.
    var sinceEpoch: Duration { get }
    /// Whether the time is synchronised, read now.
    var synchronisation: ClockSynchronisation { get }
}

/// Whether a wall clock is synchronised, by whose account, and how far off it may be.
public struct ClockSynchronisation: Sendable, Hashable, CustomStringConvertible {
    public var synchronised: Bool
    /// Who said so: `kernel (adjtimex)`, `systemd-timesyncd (/run/systemd/timesync/synchronized)`.
    public var source: String
    /// The kernel's bound on the clock's error, when it gives one.
    public var maximumError: Duration?
    /// The kernel's estimate of the clock's error, when it gives one.
    public var estimatedError: Duration?

    public init(synchronised: Bool, source: String, maximumError: Duration? = nil, estimatedError: Duration? = nil) {
        self.synchronised = synchronised
        self.source = source
        self.maximumError = maximumError
        self.estimatedError = estimatedError
    }

    /// `synchronised (kernel (adjtimex), estimated error 0.002 s, maximum 0.131 s)`.
    public var description: String {
        var parts = [source]
        if let estimatedError { parts.append("estimated error \(Self.text(estimatedError))") }
        if let maximumError { parts.append("maximum error \(Self.text(maximumError))") }
        return "\(synchronised ? "synchronised" : "unsynchronised") (\(parts.joined(separator: ", ")))"
    }

    /// Milliseconds below a second, seconds from there.
    static func text(_ duration: Duration) -> String {
        let ms = Int64(duration.milliseconds.rounded())
        return ms < 1000 ? "\(ms) ms" : "\(ms / 1000) s"
    }
}
