/// Settings of one GPIO line as a board file gives them.
public struct GPIOLineConfig: Equatable, Sendable {
    /// The line offset on its chip (`gpiochip0` line 17 is BCM GPIO17 on a Raspberry Pi).
    public var offset: Int
    /// Logical `true` drives the pin low (an LED wired to 3V3, a button to GND with a pull-up).
    public var activeLow: Bool
    /// Edges closer together than this are bounce and are dropped (inputs only).
    public var debounce: Duration
    /// The label others see in `gpioinfo` while we hold the line.
    public var consumer: String

    public init(offset: Int, activeLow: Bool = false, debounce: Duration = .zero, consumer: String = "fieldagent") {
        self.offset = offset
        self.activeLow = activeLow
        self.debounce = debounce
        self.consumer = consumer
    }
}

public struct GPIOError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case noSuchChip, noSuchLine, busy, permissionDenied, io, closed
    }
    public var kind: Kind
    public var chip: String
    public var offset: Int?
    public var detail: String

    public init(_ kind: Kind, chip: String, offset: Int? = nil, detail: String) {
        self.kind = kind
        self.chip = chip
        self.offset = offset
        self.detail = detail
    }

    public var description: String {
        let line = offset.map { " line \($0)" } ?? ""
        return "\(chip)\(line): \(detail)"
    }
}

/// A requested output line. Values are logical: with `activeLow`, `true` drives the pin low.
public protocol GPIOOutputLine: AnyObject, Sendable {
    var config: GPIOLineConfig { get }
    func set(_ value: Bool) throws(GPIOError)
    /// The last value written (logical).
    var value: Bool { get }
}

public enum GPIOEdge: String, Sendable, Equatable {
    /// Logical value went from false to true.
    case rising
    case falling
}

public struct GPIOEdgeEvent: Equatable, Sendable {
    public var edge: GPIOEdge
    /// Monotonic time of the edge.
    public var time: Duration
    public init(edge: GPIOEdge, time: Duration) {
        self.edge = edge
        self.time = time
    }
}

/// A requested input line watching both edges. Values and edges are logical (active-low applied).
public protocol GPIOInputLine: AnyObject, Sendable {
    var config: GPIOLineConfig { get }
    func get() throws(GPIOError) -> Bool
    /// Waits up to `timeout` for the next debounced edge; `nil` when none came.
    /// Backends block on the kernel's event fd (or the simulation's queue): no busy polling.
    func waitForEdge(timeout: Duration) throws(GPIOError) -> GPIOEdgeEvent?
}

/// Debouncing shared by every backend: an edge is reported only when it comes at least
/// `interval` after the last reported one, and only when it changes the reported level.
public struct Debouncer: Sendable {
    public let interval: Duration
    private var lastTime: Duration?
    private var level: Bool

    public init(interval: Duration, initialLevel: Bool) {
        self.interval = interval
        self.level = initialLevel
    }

    /// Feeds one raw edge; returns it when it counts.
    public mutating func accept(_ event: GPIOEdgeEvent) -> GPIOEdgeEvent? {
        let newLevel = event.edge == .rising
        guard newLevel != level else { return nil }
        if let lastTime, event.time - lastTime < interval { return nil }
        lastTime = event.time
        level = newLevel
        return event
    }
}
