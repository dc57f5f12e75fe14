import ChipCatalog
import Configuration
import HAL
import HALLinux
import HALSimulation
import SensorCore

/// A board opened from its file: buses, one driver per chip, GPIO lines and (for simulated
/// boards) the simulated world behind them. Opening never fails for a single broken sensor or
/// line: those are recorded so `doctor` can report them and the sampler can retry them.
public final class Board: Sendable {
    public struct Sensor: Sendable {
        public var chip: BoardFile.Chip
        public var busName: String
        public var bus: any I2CBus
        public var driver: any SensorCore.Sensor
    }

    public struct Lines: Sendable {
        public var statusLED: (any GPIOOutputLine)?
        public var alarm: (any GPIOOutputLine)?
        public var button: (any GPIOInputLine)?
        /// Lines that could not be requested, with why (busy, no such line, permission).
        public var failures: [BoardFile.LineRole: GPIOError] = [:]
    }

    /// The simulated world behind a simulated board, for tests and the demo.
    public struct Simulation: Sendable {
        public var clock: VirtualClock
        public var buses: [String: SimulatedI2CBus]
        public var faultLayers: [String: FaultyI2CBus]
        public var models: [String: any ChipModel]
        public var gpioChip: SimulatedGPIOChip?
    }

    public let file: BoardFile
    public let clock: any HALClock
    /// Each bus by name with the bus object drivers use (the fault layer on simulated boards).
    public let buses: [(name: String, bus: any I2CBus)]
    public let sensors: [Sensor]
    public let lines: Lines
    public let simulation: Simulation?
    /// The wall clock a simulated board with planted clock steps stamps with (nil otherwise: a
    /// real board's is the system's, a simulated one's without steps is its virtual time).
    public let wallClock: (any WallClock)?
    /// Buses that could not be opened, with why and the fix (`/dev/i2c-1` missing: enable I2C).
    public let busFailures: [String: String]

    public struct OpenError: Error, CustomStringConvertible {
        public var description: String
    }

    init(file: BoardFile, clock: any HALClock, buses: [(name: String, bus: any I2CBus)], sensors: [Sensor],
         lines: Lines, simulation: Simulation?, busFailures: [String: String] = [:], wallClock: (any WallClock)? = nil) {
        self.file = file
        self.wallClock = wallClock
        self.clock = clock
        self.buses = buses
        self.sensors = sensors
        self.lines = lines
        self.simulation = simulation
        self.busFailures = busFailures
    }

    /// Opens the board a file describes. `timeScale` overrides the file's simulated time scale
    /// (0: simulated time runs as fast as the code; tests use 0).
    public static func open(_ file: BoardFile, timeScale: Double? = nil) throws(OpenError) -> Board {
        switch file.backend {
        case .simulated: return try openSimulated(file, timeScale: timeScale ?? file.simulation?.timeScale ?? 1)
        case .linux: return try openLinux(file)
        }
    }

    /// Real hardware: one `LinuxI2CBus` per bus (i2c-dev), lines from libgpiod. A bus that cannot
    /// be opened stops here with the fix (enable I2C, join the i2c group); a GPIO line that cannot
    /// be requested is recorded for the doctor instead.
    static func openLinux(_ file: BoardFile) throws(OpenError) -> Board {
        let clock = SystemClock()
        var busFailures: [String: String] = [:]
        var buses: [(name: String, bus: any I2CBus)] = []
        var sensors: [Sensor] = []
        for spec in file.buses {
            let bus: any I2CBus
            do {
                bus = try LinuxI2CBus(path: spec.path)
            } catch {
                // The doctor reports it with the fix; the sampler keeps retrying the chips on it
                // and reports them failed with this reason.
                busFailures[spec.path] = "\(error)"
                bus = UnavailableI2CBus(name: spec.path, reason: "\(error)")
            }
            buses.append((spec.path, bus))
            for chip in spec.chips {
                sensors.append(Sensor(chip: chip, busName: spec.path, bus: bus,
                                      driver: chip.kind.makeDriver(bus: bus, address: chip.address, clock: clock)))
            }
        }
        var lines = Lines()
        if let gpio = file.gpio {
            do {
                let chip = try LinuxGPIOChip(gpio.chip)
                lines = requestLines(gpio) { role, config throws(GPIOError) -> Any in
                    role.isOutput ? try chip.requestOutput(config) : try chip.requestInput(config)
                }
            } catch {
                for role in gpio.lines.keys { lines.failures[role] = error }
            }
        }
        return Board(file: file, clock: clock, buses: buses, sensors: sensors, lines: lines, simulation: nil,
                     busFailures: busFailures)
    }

    static func openSimulated(_ file: BoardFile, timeScale: Double) throws(OpenError) -> Board {
        let clock = VirtualClock(timeScale: timeScale)
        let sim = file.simulation ?? BoardFile.Simulation(scenario: Scenario(seed: 1), faults: [], timeScale: timeScale)
        var simBuses: [String: SimulatedI2CBus] = [:]
        var layers: [String: FaultyI2CBus] = [:]
        var models: [String: any ChipModel] = [:]
        var sensors: [Sensor] = []
        var buses: [(name: String, bus: any I2CBus)] = []
        for (index, bus) in file.buses.enumerated() {
            let simBus = SimulatedI2CBus(name: bus.path)
            var faults: [Fault] = []
            for planted in sim.faults {
                guard case .bus(let chipName, let kind, let from, let until) = planted,
                      let chip = bus.chips.first(where: { $0.name == chipName }) else { continue }
                faults.append(Fault(kind, at: chip.address, from: from, until: until))
            }
            for chip in bus.chips {
                let environment = Environment(clock: clock)
                let dump: I2CDump?
                do {
                    dump = try chip.dump.map { path throws(OpenError) -> I2CDump in
                        guard let text = readTextFile(path) else { throw OpenError(description: "cannot read \(path)") }
                        do { return try I2CDump(parsing: text) } catch { throw OpenError(description: "\(path): \(error)") }
                    }
                } catch {
                    throw error
                }
                let model: any ChipModel
                do {
                    model = try chip.kind.makeModel(environment: environment, dump: dump)
                } catch {
                    throw OpenError(description: "\(file.path): chip '\(chip.name)': \(error)")
                }
                sim.scenario.drive(environment, channels: model.physicalChannels)
                simBus.attach(model, at: chip.address)
                models[chip.name] = model
            }
            let layer = FaultyI2CBus(base: simBus, faults: faults, clock: clock, seed: sim.scenario.seed &+ UInt64(index))
            simBuses[bus.path] = simBus
            layers[bus.path] = layer
            buses.append((bus.path, layer))
            for chip in bus.chips {
                sensors.append(Sensor(chip: chip, busName: bus.path, bus: layer,
                                      driver: chip.kind.makeDriver(bus: layer, address: chip.address, clock: clock)))
            }
        }
        var lines = Lines()
        var gpioChip: SimulatedGPIOChip?
        if let gpio = file.gpio {
            let chip = SimulatedGPIOChip(name: gpio.chip, clock: clock)
            for planted in sim.faults {
                if case .lineBusy(let role, let consumer) = planted, let config = gpio.lines[role] {
                    chip.hold(config.offset, consumer: consumer)
                }
            }
            // A button with a pull-up idles high: released, whatever its active-low setting says.
            if let button = gpio.lines[.button] { chip.drive(button.offset, button.activeLow) }
            lines = requestLines(gpio) { role, config throws(GPIOError) -> Any in
                role.isOutput ? try chip.requestOutput(config) : try chip.requestInput(config)
            }
            gpioChip = chip
        }
        return Board(file: file, clock: clock, buses: buses, sensors: sensors, lines: lines,
                     simulation: Simulation(clock: clock, buses: simBuses, faultLayers: layers, models: models, gpioChip: gpioChip),
                     wallClock: sim.clockSteps.isEmpty ? nil
                        : SimulatedWallClock(following: clock, start: SystemWallClock().sinceEpoch - clock.now, steps: sim.clockSteps))
    }

    static func requestLines(_ gpio: BoardFile.GPIO, _ request: (BoardFile.LineRole, GPIOLineConfig) throws(GPIOError) -> Any) -> Lines {
        var lines = Lines()
        for role in BoardFile.LineRole.allCases {
            guard let config = gpio.lines[role] else { continue }
            do {
                let line = try request(role, config)
                switch role {
                case .statusLED: lines.statusLED = line as? any GPIOOutputLine
                case .alarm: lines.alarm = line as? any GPIOOutputLine
                case .button: lines.button = line as? any GPIOInputLine
                }
            } catch {
                lines.failures[role] = error
            }
        }
        return lines
    }
}

/// Stands in for a bus that could not be opened: every transaction fails with the reason, so
/// the sensors on it report failed (never a value) and recover once the board is restarted with
/// the bus enabled.
final class UnavailableI2CBus: I2CBus {
    let name: String
    let reason: String

    init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }

    func transaction(_ address: I2CAddress, _ operations: [I2COperation]) throws(I2CError) -> [[UInt8]] {
        throw I2CError(.other, bus: name, address: address, operation: operations.summary, detail: reason)
    }
}
