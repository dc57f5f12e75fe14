import HAL
import Synchronization

/// A simulated GPIO chip (the role `gpio-sim` plays in the kernel): lines can be requested as
/// outputs whose levels the test observes, or as inputs whose pins the test drives.
/// Levels on the "pin" side are physical; line values seen by the agent are logical (active-low applied).
public final class SimulatedGPIOChip: Sendable {
    public let name: String
    public let lineCount: Int
    let clock: any HALClock

    struct Pin {
        var level = false
        var consumer: String?
        /// Physical levels written by the agent, with their times (outputs).
        var history: [GPIOLevelChange] = []
        /// Raw physical edges made by `drive` (inputs); lines turn them into logical, debounced edges.
        var events: [GPIOEdgeEvent] = []
    }
    let pins: Mutex<[Int: Pin]>

    public init(name: String, lineCount: Int = 54, clock: any HALClock) {
        self.name = name
        self.lineCount = lineCount
        self.clock = clock
        pins = Mutex([:])
    }

    private func claim(_ config: GPIOLineConfig) throws(GPIOError) {
        guard (0..<lineCount).contains(config.offset) else {
            throw GPIOError(.noSuchLine, chip: name, offset: config.offset,
                            detail: "no line \(config.offset); this chip has lines 0…\(lineCount - 1)")
        }
        let holder: String? = pins.withLock { pins in
            var pin = pins[config.offset] ?? Pin()
            if let holder = pin.consumer { return holder }
            pin.consumer = config.consumer
            pins[config.offset] = pin
            return nil
        }
        if let holder {
            throw GPIOError(.busy, chip: name, offset: config.offset, detail: "line busy: held by consumer '\(holder)'")
        }
    }

    public func requestOutput(_ config: GPIOLineConfig, initial: Bool = false) throws(GPIOError) -> SimulatedOutputLine {
        try claim(config)
        let line = SimulatedOutputLine(chip: self, config: config)
        try line.set(initial)
        return line
    }

    public func requestInput(_ config: GPIOLineConfig) throws(GPIOError) -> SimulatedInputLine {
        try claim(config)
        return SimulatedInputLine(chip: self, config: config)
    }

    /// Marks a line as held by another program (a planted "line busy" fault).
    public func hold(_ offset: Int, consumer: String) {
        pins.withLock { pins in
            var pin = pins[offset] ?? Pin()
            pin.consumer = consumer
            pins[offset] = pin
        }
    }

    func release(_ offset: Int) {
        pins.withLock { pins in pins[offset]?.consumer = nil }
    }

    // MARK: The world's side

    /// The physical level of a pin now.
    public func level(_ offset: Int) -> Bool {
        pins.withLock { pins in pins[offset]?.level ?? false }
    }

    /// Every physical level the agent wrote to an output pin, with its time.
    public func history(_ offset: Int) -> [GPIOLevelChange] {
        pins.withLock { pins in pins[offset]?.history ?? [] }
    }

    /// Drives an input pin to a physical level (a button press, a pull change); an edge is queued
    /// when the level changes.
    public func drive(_ offset: Int, _ level: Bool) {
        let now = clock.now
        pins.withLock { pins in
            var pin = pins[offset] ?? Pin()
            if pin.level != level {
                pin.events.append(GPIOEdgeEvent(edge: level ? .rising : .falling, time: now))
            }
            pin.level = level
            pins[offset] = pin
        }
    }

    func write(_ offset: Int, physical level: Bool) {
        let change = GPIOLevelChange(time: clock.now, level: level)
        pins.withLock { pins in
            var pin = pins[offset] ?? Pin()
            pin.level = level
            pin.history.append(change)
            pins[offset] = pin
        }
    }

    func takeEvents(_ offset: Int) -> [GPIOEdgeEvent] {
        pins.withLock { pins in
            let events = pins[offset]?.events ?? []
            pins[offset]?.events = []
            return events
        }
    }
}

/// A physical level an output took, and when.
public struct GPIOLevelChange: Equatable, Sendable {
    public var time: Duration
    public var level: Bool
}

public final class SimulatedOutputLine: GPIOOutputLine {
    public let config: GPIOLineConfig
    let chip: SimulatedGPIOChip
    private let current = Mutex(false)

    init(chip: SimulatedGPIOChip, config: GPIOLineConfig) {
        self.chip = chip
        self.config = config
    }

    public func set(_ value: Bool) throws(GPIOError) {
        current.withLock { $0 = value }
        chip.write(config.offset, physical: value != config.activeLow)
    }

    public var value: Bool { current.withLock { $0 } }

    deinit { chip.release(config.offset) }
}

public final class SimulatedInputLine: GPIOInputLine {
    public let config: GPIOLineConfig
    let chip: SimulatedGPIOChip

    /// The debouncer and the accepted edges not yet handed out.
    private struct Queue {
        var debouncer: Debouncer
        var pending: [GPIOEdgeEvent] = []
    }
    private let queue: Mutex<Queue>

    init(chip: SimulatedGPIOChip, config: GPIOLineConfig) {
        self.chip = chip
        self.config = config
        let logical = chip.level(config.offset) != config.activeLow
        queue = Mutex(Queue(debouncer: Debouncer(interval: config.debounce, initialLevel: logical)))
        _ = chip.takeEvents(config.offset)  // edges before the request are not ours
    }

    public func get() throws(GPIOError) -> Bool {
        chip.level(config.offset) != config.activeLow
    }

    /// Returns the next debounced edge. The simulation has no wall time to wait on: when no edge
    /// is queued, the clock advances by `timeout` and `nil` comes back.
    public func waitForEdge(timeout: Duration) throws(GPIOError) -> GPIOEdgeEvent? {
        let raw = chip.takeEvents(config.offset)
        let activeLow = config.activeLow
        let next: GPIOEdgeEvent? = queue.withLock { queue in
            for event in raw {
                var logical = event
                if activeLow { logical.edge = event.edge == .rising ? .falling : .rising }
                if let accepted = queue.debouncer.accept(logical) { queue.pending.append(accepted) }
            }
            return queue.pending.isEmpty ? nil : queue.pending.removeFirst()
        }
        if next == nil { chip.clock.sleep(for: timeout) }
        return next
    }

    deinit { chip.release(config.offset) }
}
